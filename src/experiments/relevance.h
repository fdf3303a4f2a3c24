// `funnel experiment relevance`: what lexical relevance work is worth on a
// labels-only collection (BEIR: a corpus, queries and one qrels file, no
// logs), under k-fold cross-validation by query, for several split seeds.
// Columns: BM25 with funnel's defaults; BM25 with k1, b and the title
// weight tuned on the training folds; BM25 + RM3 pseudo-relevance feedback
// with default settings and with settings tuned on the training folds; a
// LambdaMART ranker (XGBoost rank:ndcg) over lexical and cross features,
// fused with BM25 at a weight chosen on inner folds; and the selected
// cascade, which takes whichever of those the training folds rate best and
// keeps BM25's own order when none beats it. See docs/relevance.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fusion/gbdt.h"

namespace funnel::experiments {

struct RelevanceOptions {
  std::string data, out;
  int folds = 5;
  // Inner folds of each outer fold's training queries: LambdaMART is
  // trained on all but one and scored on that one, and its BM25 fusion
  // weight (rank_fusion_grid()) chosen on the pooled inner dev lists.
  int inner_folds = 4;
  std::vector<std::uint64_t> seeds = {1, 2, 3};  // split seeds, one CV run each
  std::size_t depth = 100;        // candidates per query: BM25 top depth and BM25 + RM3 top depth, merged
  std::size_t max_queries = 0;    // 0: every judged query (see read_judged_queries)
  bool force = false, json = false;
  fusion::GbdtParams lambdamart;  // objective rank:ndcg; see default_relevance_options()
};

// lambdamart: rank::default_lambdamart_params() (the inner folds, not a
// validation split, say how well it does).
RelevanceOptions default_relevance_options();

// Writes OUT/relevance.{md,json} (and OUT/index-tw*/ BM25 indexes) and
// prints the markdown (or the JSON). Throws funnel::Error.
void run_relevance(const RelevanceOptions& options);

}  // namespace funnel::experiments
