// Training of the cross ranker (`funnel fit --stage rank`). Torch-free
// header: the CLI includes it; the implementation uses libtorch.
//
// Examples (TECHNIQUES.md section 4):
//  - relevance: per training query, its BM25 top `candidate_depth` docs with
//    their qrels grades (unjudged = 0); a step samples `list_size` of them
//    per query (at least one relevant) and applies a listwise softmax loss
//    whose target is proportional to 2^grade - 1 (what nDCG rewards);
//  - logged feedback (click, watch, finish, like, share, follow): pointwise
//    binary cross-entropy on training-query impressions, one head each.
// The click-history features of a training query come from the logs of the
// other half of the training queries (out-of-fold), so the model cannot
// learn to read its own labels back; serving uses all training logs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace funnel::train {

struct RankTrainOptions {
  std::string preset = "tiny";        // encoder shape: tiny | small | base
  int max_len = 64;                   // pair tokens: [CLS] query [SEP] title tags [SEP] body
  bool use_text = true;               // the encoder tower
  bool use_features = true;           // the cross features
  std::vector<int> dnn = {64, 32};
  // Loss weight per task; tasks the data lacks are dropped. Unlisted tasks
  // the data has get the default (relevance 1, click 0.5, the rest 0.2).
  std::map<std::string, double> task_weights;
  int epochs = 2;
  int steps_per_epoch = 400;          // 0: one pass over the training queries
  int queries_per_step = 8, list_size = 16;
  int impressions_per_step = 64;
  std::size_t candidate_depth = 100;  // BM25 results per training query
  double lr = 1e-3;
  std::uint64_t seed = 1;
  int threads = 1;
  std::string init;                   // a models folder with OUT/pretrain (MLM encoder + tokenizer)
  std::size_t dev_queries = 300;      // dev queries of the dev check (BM25 top candidate_depth re-ranked, nDCG@10)
  std::size_t stored_depth = 64;      // train candidates per query whose scores are stored for distillation (0: none)
  // The serving BM25 weight written to OUT/rank/fusion.json, when the caller
  // chose it on other dev lists (`funnel eval --cv` pools inner folds);
  // unset: fitted on this run's dev lists (0 without them). fusion_source
  // says where a given weight came from (fusion.json "fitted").
  std::optional<double> fusion_weight;
  std::string fusion_source;
};

struct RankEpochLog {
  int epoch = 0;
  double loss = 0;
  double dev_ndcg = 0;  // nDCG@10 of BM25's top candidate_depth re-ranked by the ranker alone (NaN without dev qrels)
  // The same ordered by ranker + w x BM25 / the list's best BM25, with w
  // fitted on the dev lists (0: the ranker alone; 1000: BM25's order).
  double fused_ndcg = 0, fusion_weight = 0;
  // Dev nDCG@10 at each weight of rank_fusion_grid(), in its order (empty
  // without dev qrels): what a caller needs to pool dev lists of several
  // runs, as `funnel eval --cv` does over its inner folds.
  std::vector<double> grid_ndcg;
  double seconds = 0;
};

// The weights w that the dev check tries for ranker + w x BM25 / the list's
// best BM25, ascending: 0 is the ranker alone, 1000 BM25's order (the
// ranker breaking ties).
const std::vector<double>& rank_fusion_grid();

struct RankTrainResult {
  std::size_t dev_lists = 0;      // dev queries of the dev check (0: no dev qrels)
  double bm25_dev_ndcg = 0;       // BM25's own order of the same dev lists
  double untrained_dev_ndcg = 0;
  double best_dev_ndcg = 0;       // fused, at the best epoch (the stage's serving score)
  double best_ranker_ndcg = 0;    // the ranker alone at that epoch
  double fusion_weight = 0;       // saved in OUT/rank/fusion.json
  int best_epoch = 0;
  std::vector<RankEpochLog> epochs;
  std::vector<std::string> tasks;
  std::filesystem::path model_dir;
  std::string model_id;            // of the saved model (RankerModel::model_id)
  std::size_t stored_queries = 0;  // queries in OUT/rank/train_scores.jsonl
};

// Trains on the data folder `data` (BEIR layout with qrels/train.tsv;
// impressions.jsonl and human_labels.tsv if present) and writes
// OUT/rank/{config.json, tokenizer.model, model.pt, features.bin,
// fusion.json, train_log.jsonl, train_scores.jsonl, data.json}. The epoch
// kept is the one with the best fused dev nDCG@10. Throws funnel::Error.
RankTrainResult train_rank(const std::filesystem::path& data, const std::filesystem::path& out,
                           const RankTrainOptions& options, const std::function<void(const std::string&)>& log);

}  // namespace funnel::train
