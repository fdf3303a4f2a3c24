// Lexical features of a (query, doc) pair that the cross features
// (rank/cross_features.h) do not have: how close together the doc holds the
// query's terms, how rare the query's terms are, the doc's length and how
// much of the pseudo-relevance-feedback model (recall/rm3.h) the doc holds.
// Plain functions over analysed terms (text::Analyzer), so each is checked
// against a hand computation (tests/rank/lexical_features_test.cc); the
// LambdaMART ranker (experiments/relevance.cc) takes them with the BM25
// scores of the query and of its expansion.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "recall/rm3.h"
#include "text/analyzer.h"

namespace funnel::rank {

// The smallest span of positions (last - first + 1) of `doc` that holds
// every distinct term of `query` that the doc holds at all. Positions are
// the analyser's (a CJK n-gram sits at its first character). NaN when the
// doc holds fewer than two distinct query terms: no window to measure.
double min_window_unordered(const std::vector<text::Term>& doc, const std::vector<std::string>& query);

// As min_window_unordered, but the held terms must appear in the query's
// order (of first occurrence), each at a position after the previous one's.
// NaN when fewer than two distinct query terms are held or they never occur
// in that order.
double min_window_ordered(const std::vector<text::Term>& doc, const std::vector<std::string>& query);

// IDF statistics of a query's distinct terms, with the BM25 idf of
// text::bm25_idf (the channel's): their sum, their maximum, and the share of
// terms that are rare, held by at most 1% of the docs (at least one doc's
// worth: df <= max(1, N / 100); a term no doc holds counts as rare). A query
// without terms: all 0.
struct QueryIdfStats {
  double sum = 0, max = 0, rare_share = 0;
};
QueryIdfStats query_idf_stats(const std::vector<double>& dfs, double n_docs);

// The share of the expansion's weight (rm3_expansion's terms, weights
// summing to 1) on terms the doc holds: 1 when the doc holds every
// expansion term, 0 when none (or the expansion is empty).
double prf_agreement(const std::vector<recall::WeightedTerm>& expansion, const std::vector<text::Term>& doc);

}  // namespace funnel::rank
