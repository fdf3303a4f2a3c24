// The LambdaMART ranker: gradient-boosted trees (XGBoost rank:ndcg,
// fusion/gbdt.h) over lexical features of a (query, doc) pair, trained by
// `funnel fit --stage rank --ranker lambdamart` and served by the rank
// stage (rank_stage.cc) when MODELS/rank/lambdamart.json exists. Torch-free:
// a ranker for collections with a few dozen judged queries and no logs,
// where a neural ranker has too little to learn from. docs/relevance.md.
//
// Features (LexicalFeatureSet::names(), in column order): the BM25 score of
// the query and of its RM3 expansion (recall/rm3.h), each also over the
// list's best; the RM3 agreement, the minimal windows (ordered and
// unordered), the query's IDF sum / max / rare share
// (rank/lexical_features.h); ln(1 + the doc's analysed terms); then the
// cross features that need no logs (rank/cross_features.h: per-field BM25,
// term and pair coverage, phrase in title, query / title / body lengths).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "funnel/data.h"
#include "funnel/recall.h"
#include "fusion/gbdt.h"

namespace funnel::rank {

// Computes the features for a query's candidates over one BM25 index and
// the corpus it was built from (rows in the same order). Thread-safe.
class LexicalFeatureSet {
 public:
  // `bm25`: the index's options (analysis and BM25 parameters); its prf_*
  // fields are the expansion's settings (prf_docs 0: recall::kDefaultPrfDocs).
  // Throws funnel::Error when the index cannot be opened or does not hold
  // the corpus's number of docs.
  LexicalFeatureSet(const std::filesystem::path& bm25_dir, const Bm25Options& bm25,
                    std::shared_ptr<const Corpus> corpus);
  ~LexicalFeatureSet();

  static const std::vector<std::string>& names();

  // Training candidates: BM25's top `depth`, then BM25 + RM3's top `depth`
  // not already there.
  std::vector<std::uint32_t> candidates(const std::string& query, std::size_t depth) const;

  // x (resized): rows.size() x names().size() features, row-major (NaN:
  // missing); bm25 (resized): the plain BM25 score of each row (what the
  // ranker's score is fused with).
  void compute(const std::string& query, const std::vector<std::uint32_t>& rows, std::vector<float>& x,
               std::vector<float>& bm25) const;

  const Bm25Options& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One training query's candidates, features and grades (0: unjudged).
struct RankRows {
  std::vector<std::uint32_t> rows;
  std::vector<float> x, grade, bm25;
};

// Builds the rows of a query: candidates(query, depth), compute(), grades
// from `judged` (negative grades count 0).
RankRows rank_rows(const LexicalFeatureSet& f, const std::string& query, const metrics::Judgments& judged,
                   const Corpus& corpus, std::size_t depth);

// LambdaMART over the queries `which` of `lists` (lists without rows are
// skipped; one group per query). Throws funnel::Error when none has rows.
fusion::GbdtModel fit_lambdamart(const std::vector<RankRows>& lists, const std::vector<std::size_t>& which,
                                 const fusion::GbdtParams& params);

// The LambdaMART defaults: rank:ndcg, 150 rounds of depth-4 trees at eta
// 0.05, row and column subsampling 0.8, no early stopping (the caller
// scores it on held-out queries).
fusion::GbdtParams default_lambdamart_params();

// The doc ids of `rows` ordered by the model's score fused with BM25 at
// `weight` (funnel/fusion.h), best first, at most n.
std::vector<std::string> lambdamart_order(const fusion::GbdtModel& m, const RankRows& r, double weight,
                                          const Corpus& corpus, std::size_t n);

}  // namespace funnel::rank
