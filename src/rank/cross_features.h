// Query-document cross features for the rank stage: per-field BM25, query
// term and term-pair coverage, phrase match, lengths and smoothed click
// statistics learned from logged impressions. Plain C++ (no libtorch), so the
// serving path can compute them for every candidate of a request.
//
// Text analysis (corpus fields and queries alike): the terms of
// text::Analyzer (text/analyzer.h) with the channel's options (stemmer, CJK
// n-grams), so a field's words, a Chinese run's n-grams and the query's terms
// are the ones the BM25 channel indexes and searches.
// A doc has three fields: title, tags (all tags as one field; each tag is
// analysed on its own, so term pairs never cross a tag boundary) and body
// (Doc::text).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "funnel/data.h"
#include "funnel/recall.h"
#include "rank/click_table.h"

namespace funnel::rank {

struct CrossFeatureOptions {
  // The BM25 parameters and analysis of the recall channel (funnel/recall.h):
  // k1 (default 1), b (0.5), min_normlen (0.5), the stemmer ("english";
  // "none" turns stemming off) and the CJK n-gram lengths; the field weights
  // and phrase_boost are not used. The per-field BM25 uses the channel's formula (text/analysis.h),
  // so a field scores as the channel would score an index of that field.
  Bm25Options bm25;
  // Strength m >= 0 of the Beta prior that smooths click-through rates towards
  // the global CTR p0 of the logs: ctr = (clicks + m * p0) / (impressions + m).
  // Default 20 impressions.
  double ctr_prior = 20;
};

// One logged impression used to learn the click features. `query` is the raw
// query text (analysed like the corpus); `row` is the doc's corpus row.
struct LoggedImpression {
  std::string query;
  std::uint32_t row = 0;
  bool click = false;
};

// Computes CrossFeatures::kCount features for (query, corpus row) pairs.
//
// build() / load() analyse the corpus once (vocabulary interned to uint32
// term ids; per doc and field the sorted (term id, count) lists, the title's
// term sequence and the title/tag term pairs; per field the document
// frequencies and mean length). A request calls prepare() once per query and
// compute() once per candidate.
//
// Click features are learned only from the impressions given to build(); the
// caller must pass logs of training queries only, or the features leak the
// labels of the queries they are evaluated on.
//
// Thread safety: after construction every const member (prepare(), compute(),
// save()) may be called from several threads at once. The object does not
// keep a reference to the corpus.
class CrossFeatures {
 public:
  static constexpr std::size_t kCount = 17;

  // Feature positions in compute()'s output; names() gives the same order.
  enum Feature : std::size_t {
    // BM25 of the query's distinct terms in one field, with the recall
    // channel's formula and parameters (text::bm25_idf, text::bm25_tf_part):
    //   sum_t idf(t) * (k1 + 1) tf / (k1 (b * max(len / avglen, min_normlen) + 1 - b) + tf),
    // N = corpus docs, df = docs whose field holds t, tf = count of t in the
    // field, len = words in the field, avglen = mean len over the corpus.
    kBm25Title = 0,
    kBm25Tags = 1,
    kBm25Body = 2,
    kBm25All = 3,  // title + tags + body taken as one field
    // Share of the query's distinct terms found in title or tags / in the
    // body; 0 for a query without terms.
    kTermCoverTitleTags = 4,
    kTermCoverBody = 5,
    // Share of the query's distinct adjacent term pairs that are adjacent in
    // the title or inside one tag ("entity coverage"). A one-term query gets
    // kTermCoverTitleTags; a query without terms 0.
    kPairCoverTitleTags = 6,
    // 1 if the query's whole term sequence occurs contiguously in the title,
    // else 0 (0 for a query without terms).
    kPhraseInTitle = 7,
    kQueryLen = 8,  // ln(1 + query terms, repetitions included)
    kTitleLen = 9,  // ln(1 + title words)
    kBodyLen = 10,  // ln(1 + body words)
    // Click features: smoothed CTR minus the global CTR p0, so 0 means "no
    // evidence". All 0 when build() got no logs.
    kClickPair = 11,        // key (normalised query, doc)
    kClickTermDoc = 12,     // mean over distinct query terms t of key (t, doc)
    kClickTermAuthor = 13,  // mean over t of key (t, doc's author); 0 without author
    kDocCtr = 14,           // key doc
    kDocImpressions = 15,   // ln(1 + impressions of the doc) (not centred)
    kAuthorCtr = 16,        // key doc's author; 0 without author
  };

  // Stable snake_case names of the features, in output order.
  static const std::array<std::string, kCount>& names();

  // Analyses `corpus` and learns the click statistics from `logs` (each
  // logged query is analysed like a request's query; an impression counts
  // once per distinct term of its query for the term keys).
  // Throws funnel::Error for an option out of range, an unknown stemmer
  // language, a log row >= corpus.docs.size() (naming the impression's
  // index), a corpus of 2^32 - 1 docs or more, or more than 2^32 - 1
  // impressions of one click key.
  static CrossFeatures build(const Corpus& corpus, const std::vector<LoggedImpression>& logs,
                             const CrossFeatureOptions& options);

  // Writes the options, a fingerprint of the corpus (size and doc ids) and
  // the click statistics (not the corpus analysis, which load() redoes) to
  // `path`, atomically (temporary file renamed into place). The format is
  // binary little-endian: magic "FNLXF", a version, counted sections and a
  // trailing XXH3-64 checksum. Throws funnel::Error if writing fails.
  void save(const std::filesystem::path& path) const;

  // Reads what save() wrote and re-analyses `corpus`, which must be the one
  // the file was built on. Throws funnel::Error whose message starts with
  // the path and says what is wrong: unreadable file, wrong magic, an
  // unsupported version, a truncated or over-long file, a count larger than
  // what is left of the file, an out-of-range value, a checksum mismatch, or
  // a corpus of another size or with other doc ids.
  static CrossFeatures load(const std::filesystem::path& path, const Corpus& corpus);

  // A query analysed once per request, for compute(). Only valid with the
  // CrossFeatures object that prepared it.
  struct Prepared {
    // Analysed terms in query order, repetitions included.
    std::vector<std::string> terms;
    // Term id of each entry of `terms`. Terms outside the corpus and log
    // vocabulary get ids >= the vocabulary size, local to this query, so they
    // count in coverage denominators but never match a doc or a click key.
    std::vector<std::uint32_t> sequence;
    // Distinct term ids, in first-occurrence order.
    std::vector<std::uint32_t> distinct;
    // idf[f][i]: BM25 idf of distinct[i] in field f (title, tags, body, all).
    std::array<std::vector<double>, 4> idf;
    // Distinct adjacent term pairs (first << 32 | second), sorted.
    std::vector<std::uint64_t> pairs;
    // The terms joined by one space: the query's key in the click logs.
    std::string normalised;
    // Id of `normalised` among the logged queries, or kNoId.
    std::uint32_t query_id = kNoId;
  };
  static constexpr std::uint32_t kNoId = 0xffffffffu;

  // Analyses `query`. Thread-safe.
  Prepared prepare(const std::string& query) const;

  // Writes the kCount features of (q, row) to out[0 .. kCount), in the order
  // of Feature. Thread-safe. Throws funnel::Error if row >= corpus size.
  void compute(const Prepared& q, std::uint32_t row, float* out) const;

  // True when build() was given at least one logged impression.
  bool has_click_stats() const { return total_impressions_ > 0; }

  const CrossFeatureOptions& options() const { return options_; }
  std::size_t corpus_size() const { return n_docs_; }

 private:
  // One field of every doc in compressed-row form: doc r's distinct terms are
  // postings[offsets[r] .. offsets[r + 1]), sorted by term id.
  struct TermCount {
    std::uint32_t term;
    std::uint32_t count;
  };
  struct FieldIndex {
    std::vector<std::uint64_t> offsets;   // n_docs + 1
    std::vector<TermCount> postings;
    std::vector<std::uint32_t> lengths;   // words per doc
    std::vector<std::uint32_t> df;        // per corpus term id
    double avg_length = 0;
  };
  enum Field : std::size_t { kTitle = 0, kTags = 1, kBody = 2, kAll = 3 };

  CrossFeatures() = default;
  // Identifies a corpus by its size and doc ids in row order.
  static std::uint64_t corpus_fingerprint(const Corpus& corpus);
  // Validates options_ (naming `where`) and analyses `corpus`.
  void analyse(const Corpus& corpus, const std::string& where);
  std::uint32_t intern(const std::string& term);
  // load() in steps (cross_features_io.cc): the file parsed and checked as a
  // file, then its vocabulary and click statistics given this analysis's ids.
  struct Stored;
  static Stored parse(const std::string& data, const std::string& where);
  void restore_vocabulary(const Stored& s, const std::string& where);
  void restore_click_stats(const Stored& s, const std::string& where);
  double smoothed(const ClickStat* s) const;

  CrossFeatureOptions options_;
  std::size_t n_docs_ = 0;
  std::uint64_t fingerprint_ = 0;  // XXH3-64 of the corpus doc ids (cross_features_io.cc)

  // Vocabulary: corpus terms get ids [0, n_corpus_terms_), terms seen only in
  // the logs the ids after them.
  std::unordered_map<std::string, std::uint32_t> term_ids_;
  std::vector<std::string> terms_;
  std::uint32_t n_corpus_terms_ = 0;

  std::array<FieldIndex, 3> fields_;  // title, tags, body; kAll is derived
  std::vector<std::uint32_t> df_all_;
  double avg_length_all_ = 0;
  // Title term sequences and the title/tag adjacent pairs (sorted, distinct),
  // both in compressed-row form.
  std::vector<std::uint64_t> title_offsets_, pair_offsets_;
  std::vector<std::uint32_t> title_terms_;
  std::vector<std::uint64_t> pairs_;

  // Authors interned from the corpus; author_of_[row] is kNoId without one.
  std::unordered_map<std::string, std::uint32_t> author_ids_;
  std::vector<std::string> authors_;
  std::vector<std::uint32_t> author_of_;

  // Click statistics.
  std::uint64_t total_impressions_ = 0, total_clicks_ = 0;
  double p0_ = 0;
  std::unordered_map<std::string, std::uint32_t> query_ids_;  // normalised query -> id
  std::vector<std::string> queries_;
  ClickTable pair_stats_;         // query id << 32 | row
  ClickTable term_doc_stats_;     // term id << 32 | row
  ClickTable term_author_stats_;  // term id << 32 | author id
  std::vector<ClickStat> doc_stats_;     // per row (empty without logs)
  std::vector<ClickStat> author_stats_;  // per author id (empty without logs)
};

}  // namespace funnel::rank
