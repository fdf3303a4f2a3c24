// `funnel fit --stage rank --ranker lambdamart`: trains the LambdaMART
// ranker (rank/lexical_ranker.h) on a data folder's judged queries and
// writes what the rank stage serves. Torch-free.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "fusion/gbdt.h"
#include "rank/lexical_ranker.h"

namespace funnel::train {

struct LambdaMartTrainOptions {
  std::size_t depth = 100;  // candidates per query: BM25 top depth + BM25 + RM3 top depth
  fusion::GbdtParams params = rank::default_lambdamart_params();
};

struct LambdaMartTrainResult {
  std::size_t train_queries = 0, dev_queries = 0, rows = 0;
  // On qrels/dev.tsv (NaN without it): nDCG@10 of the fused order at the
  // chosen weight, of the ranker alone, and of BM25's order of the same
  // candidates.
  double dev_ndcg = 0, dev_ranker_ndcg = 0, dev_bm25_ndcg = 0;
  double fusion_weight = 0;  // of rank_fusion_grid(), best on dev (0 without dev)
  std::vector<std::pair<std::string, double>> importance;  // total gain, highest first
  std::filesystem::path model_dir;                          // OUT/rank
};

// Trains on DATA's qrels/train.tsv queries (candidates from a scratch BM25
// index with default options, removed afterwards), chooses the BM25 fusion
// weight on qrels/dev.tsv when present, and writes OUT/rank/{lambdamart.json,
// lexical.json, fusion.json, data.json}. An existing OUT/rank/model.pt
// (a neural ranker) is refused: one ranker per models folder. Throws
// funnel::Error.
LambdaMartTrainResult train_lambdamart(const std::filesystem::path& data, const std::filesystem::path& out,
                                       const LambdaMartTrainOptions& options,
                                       const std::function<void(const std::string&)>& log);

}  // namespace funnel::train
