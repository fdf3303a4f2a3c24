// Recall: the first stage of the cascade, which finds candidates in the whole
// corpus. A recall channel answers one query with its top-k docs; the recall
// stage (pipeline) merges several channels with per-channel quotas.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "funnel/data.h"

namespace funnel {

// One doc found by a channel. `row` is the doc's position in the corpus (and
// in the index's doc table); `score` is channel-specific, higher is better.
struct RecallHit {
  std::uint32_t row;
  double score;
};

// What a channel is asked: the query text ("" for a feed request) and the
// user ("" when anonymous).
struct RecallContext {
  std::string_view query;
  std::string_view user_id;
};

// A source of candidates. Implementations are thread-safe for search().
class RecallChannel {
 public:
  virtual ~RecallChannel() = default;
  // Short name used in configs and traces, e.g. "bm25".
  virtual std::string name() const = 0;
  // The best `k` docs for a request. By default a query channel: search()
  // on the query, nothing for a request without one. Feed channels (which
  // read the user) override it.
  virtual std::vector<RecallHit> recall(const RecallContext& ctx, std::size_t k) const {
    if (ctx.query.empty()) return {};
    return search(ctx.query, k);
  }
  // The best `k` docs for `query`, best first (fewer if fewer match).
  virtual std::vector<RecallHit> search(std::string_view query, std::size_t k) const = 0;
  // The channel's score of each of `rows` for `query` (0 where the doc does
  // not match), in the order given, for docs another channel found; a
  // channel that cannot score given docs returns an empty vector (the
  // default). The BM25 channel scores them exactly as search() would.
  virtual std::vector<double> score_rows(std::string_view query, const std::vector<std::uint32_t>& rows) const {
    return {};
  }
};

// BM25 parameters and text analysis, as Xapian's BM25Weight defines them
// (https://xapian.org/docs/apidoc/html/classXapian_1_1BM25Weight.html).
struct Bm25Options {
  double k1 = 1.0;           // term-frequency saturation (Xapian default 1)
  double k2 = 0.0;           // query-length correction (Xapian default 0)
  double k3 = 1.0;           // query-term-frequency saturation (default 1)
  double b = 0.5;            // document-length normalisation (Xapian default 0.5)
  double min_normlen = 0.5;  // floor of the normalised doc length (default 0.5)
  // Snowball stemmer language ("english", "french", ... or "none").
  std::string stemmer = "english";
  // Field weights, applied as within-doc frequency increments (integers >= 0;
  // 0 leaves the field out). Title counts double by default: short titles
  // carry the topic of a video.
  int title_weight = 2;
  int text_weight = 1;
  int tags_weight = 1;
  // Character n-gram lengths for runs of Chinese, Japanese and Korean
  // characters (each in 1..4, ascending): {1, 2} indexes and searches every
  // character and every pair of adjacent characters (docs/text.md).
  std::vector<int> cjk_ngrams = {1, 2};
  // With a value > 0, documents holding the query's terms as a phrase get
  // that many times the phrase's BM25 weight on top (0: off). The query is
  // never parsed for syntax: quotes, AND/OR/NOT and +/- are plain text.
  double phrase_boost = 0;
  // Pseudo-relevance feedback (RM3; docs/relevance.md). With prf_docs > 0 a
  // first BM25 pass takes its top prf_docs docs as relevant, builds a term
  // distribution from them (each doc's term frequencies over its length,
  // weighted by the doc's share of the first pass's scores), keeps its
  // prf_terms heaviest terms and searches again with
  //   prf_query_weight * (the query's terms, normalised)
  //     + (1 - prf_query_weight) * (the expansion terms, normalised).
  // prf_docs = 0 is plain BM25, bit for bit.
  int prf_docs = 0;               // feedback docs, 0..1000 (0: off)
  int prf_terms = 20;             // expansion terms, 1..1000
  double prf_query_weight = 0.5;  // the original query's share, in [0, 1]
};

// Called with (docs done, docs in all) during long work.
using ProgressFn = std::function<void(std::size_t, std::size_t)>;

// Builds a BM25 index of `corpus` in folder `dir` (which must not exist or
// be empty). Rows of the index are the corpus rows. Throws funnel::Error.
void build_bm25_index(const Corpus& corpus, const std::filesystem::path& dir,
                      const Bm25Options& options, const ProgressFn& progress = {});

// Opens a BM25 index built by build_bm25_index. The options' analysis
// fields (stemmer, cjk_ngrams) must match the ones used at build time; the
// scoring fields (k1, b, ...) may differ. Throws funnel::Error.
std::unique_ptr<RecallChannel> open_bm25_channel(const std::filesystem::path& dir,
                                                 const Bm25Options& options);

// Reads/writes Bm25Options as a JSON object (missing keys keep defaults;
// unknown keys are an error naming `where`).
Bm25Options bm25_options_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json bm25_options_to_json(const Bm25Options& o);

}  // namespace funnel
