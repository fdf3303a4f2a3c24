// RM3 pseudo-relevance feedback (Lavrenko & Croft, "Relevance-Based Language
// Models", SIGIR 2001; the RM3 interpolation of Abdul-Jaleel et al., "UMass
// at TREC 2004"): the relevance model of a query estimated from the top docs
// of a first pass, and its heaviest terms as the expansion. Pure arithmetic
// over term counts; the BM25 channel (bm25_channel.cc) feeds it Xapian's
// term lists. docs/relevance.md explains the options and their defaults.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <xapian.h>

namespace funnel::recall {

struct WeightedTerm {
  std::string term;
  double weight = 0;
};

// One feedback doc: its first-pass score, its length (sum of its terms'
// counts) and its distinct terms with their counts.
struct FeedbackDoc {
  double score = 0;
  double length = 0;
  std::vector<WeightedTerm> terms;  // weight = the term's count in the doc
};

// The feedback docs RM3 takes where a caller asks for RM3 without saying
// how many (the LambdaMART ranker's features, the relevance experiment's
// "BM25 + RM3" column); prf_terms and prf_query_weight keep Bm25Options'
// defaults (20, 0.5).
inline constexpr int kDefaultPrfDocs = 10;

// Terms held by more than this share of the collection's docs are left out
// of the expansion: a stop-word list that needs no language (it drops "the"
// and "of", and in Chinese the commonest characters).
inline constexpr double kRm3MaxDocShare = 0.1;

// The relevance model over `docs`:
//   P(w | R) = sum_d (count(w, d) / length(d)) * score(d) / sum_d' score(d'),
// over the terms with doc_share(w) <= kRm3MaxDocShare; its `terms` heaviest
// entries (ties: the smaller term first), renormalised to sum 1, heaviest
// first. Docs with length <= 0 or score <= 0 take no part; none left, or
// terms <= 0: an empty list.
std::vector<WeightedTerm> rm3_expansion(const std::vector<FeedbackDoc>& docs, int terms,
                                        const std::function<double(const std::string&)>& doc_share);

// rm3_expansion over the first-pass hits (corpus row, score) of a BM25
// index (Xapian docid = row + 1): each hit's term list and length as the
// index stores them (field weights included), doc shares from the index.
// What the BM25 channel expands with, and the ranker's PRF agreement reads.
std::vector<WeightedTerm> rm3_expansion(const Xapian::Database& db,
                                        const std::vector<std::pair<std::uint32_t, double>>& hits, int terms);

// RM3's interpolation: query_weight * (each query term's count / query
// length) + (1 - query_weight) * its expansion weight, per distinct term,
// query terms first (in first-occurrence order), then the expansion's other
// terms (heaviest first). Weights sum to 1 when both parts are non-empty.
std::vector<WeightedTerm> rm3_mix(const std::vector<std::string>& query_terms,
                                  const std::vector<WeightedTerm>& expansion, double query_weight);

}  // namespace funnel::recall
