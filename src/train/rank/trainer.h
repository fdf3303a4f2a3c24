// The cross ranker's trainer (funnel/train.h, train_rank): one object per
// run, its member functions spread over this folder by concern:
//   trainer.cc    the epoch loop and options
//   data.cc       training queries, logged examples, cross features,
//                 candidate lists and the dev lists
//   model.cc      the model, tokenizer, optimiser and forward pass
//   epoch.cc      one epoch of steps: listwise relevance + per-task BCE
//   dev_check.cc  the dev check (nDCG@10, the BM25 fusion weight)
//   outputs.cc    model files, stored scores for distillation
// libtorch header (src/train only).
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "funnel/data.h"
#include "funnel/train.h"
#include "nn/tokenizer.h"
#include "rank/cross_features.h"
#include "rank/rank_inputs.h"
#include "rank/ranker_config.h"
#include "rank/torch/cross_ranker.h"
#include "train/common/scratch_bm25.h"
#include "util/hash.h"
#include "util/rng.h"

namespace funnel::train {

// Cross features per candidate.
constexpr std::size_t kF = rank::CrossFeatures::kCount;

// The logged tasks: rank::all_rank_tasks() after relevance.
constexpr std::size_t kLoggedTasks = 6;

// One training query's candidate list: BM25 order, grades, features.
struct QueryList {
  std::uint32_t query = 0;          // index into the query list
  std::vector<std::uint32_t> rows;  // candidates
  std::vector<float> grade;         // qrels grade, 0 when unjudged
  std::vector<float> feats;         // rows x kF
  std::vector<float> bm25;          // BM25 scores (dev lists only)
};

// One logged impression of a training query, with its feature vector.
struct LoggedExample {
  std::uint32_t query, row;
  float label[kLoggedTasks];  // per logged task: click, watch, finish, like, share, follow
  float feats[kF];
};

// The loss weight of a task the options do not name.
inline double default_task_weight(const std::string& t) {
  if (t == "relevance") return 1.0;
  if (t == "click") return 0.5;
  return 0.2;
}

class RankTrainer {
 public:
  RankTrainer(const std::filesystem::path& data, const std::filesystem::path& out, const RankTrainOptions& o,
            const LogFn& log);
  RankTrainResult run();

 private:
  void validate();

  void load_data();

  // Fold of a training query for the out-of-fold click features.
  int fold_of(std::uint32_t q) const { return static_cast<int>(detail::stable_hash(ds_.queries[q].id) % 2); }

  void build_features();

  // The scratch BM25 index of the corpus (candidate lists), built on first
  // use in OUT/rank/bm25.tmp and removed with the trainer.
  const RecallChannel& bm25();
  // The logged impressions of training queries with their labels; sets the tasks.
  std::vector<rank::LoggedImpression> collect_logged();
  // Standardisation of the features over the training candidates.
  void fit_standardisation();

  // Up to dev_queries dev queries (sorted ids, evenly spaced): BM25's top
  // candidate_depth with serving features.
  void build_dev();

  void build_model();

  // The model inputs of (query, row) pairs: token sequences (empty without
  // text) and the n x kF feature tensor (undefined without features).
  std::pair<std::vector<std::vector<std::int64_t>>, torch::Tensor> inputs(const std::vector<std::uint32_t>& queries,
                                                                          const std::vector<std::uint32_t>& rows,
                                                                          const std::vector<float>& feats);
  // Logits of (query, row) pairs with their feature vectors (n x kF), in one
  // batch (training).
  torch::Tensor forward(const std::vector<std::uint32_t>& queries, const std::vector<std::uint32_t>& rows,
                        const std::vector<float>& feats);

  double train_epoch(int epoch);

  // The serving score of each candidate of a list.
  std::vector<float> score_list(const QueryList& l);
  // dev_scores_[i] fused with dev list i's BM25 scores at weight w.
  std::vector<float> fused_dev_scores(std::size_t i, double w) const;
  // OUT/rank/dev_check.jsonl: the dev lists with their BM25, ranker and
  // fused scores at `weight` (the saved epoch's).
  void write_dev_check(double weight) const;

  // The ranker on the dev lists: nDCG@10 of its order, and of ranker + w x
  // BM25 / the list's best BM25 for the best w on a grid (1000 orders by
  // BM25, the ranker breaking ties).
  RankEpochLog evaluate_dev();

  void save_model(double fusion_weight, int epoch);

  // The ranker's serving score on each training query's BM25 top
  // stored_depth (with its out-of-fold features, as in training), stored
  // once so that distilling it into the pre-ranker needs no ranker
  // inference: OUT/rank/train_scores.jsonl, a header line with the model id.
  std::size_t store_scores(const std::string& model_id);

  std::filesystem::path data_, out_, dir_;
  RankTrainOptions o_;
  LogFn log_;
  Dataset ds_;
  std::unordered_map<std::string, std::uint32_t> query_index_;
  std::vector<std::uint32_t> train_queries_;
  std::unordered_map<std::uint32_t, std::unordered_map<std::uint32_t, float>> grades_;
  Qrels dev_qrels_;
  std::vector<Impression> impressions_;
  std::vector<LoggedExample> logged_;
  std::vector<std::string> tasks_;
  std::unique_ptr<rank::CrossFeatures> serving_features_, fold_features_[2];
  std::unique_ptr<ScratchBm25> bm25_;
  std::vector<QueryList> lists_, dev_;
  std::vector<std::string> dev_ids_;
  std::vector<std::vector<float>> dev_scores_;  // the last evaluate_dev()'s ranker scores, per dev list
  double bm25_dev_ndcg_ = std::nan("");
  std::vector<float> mean_, std_;
  rank::CrossRankerConfig config_;
  std::unique_ptr<nn::Tokenizer> tokenizer_;
  rank::RankDocTokens docs_;
  std::vector<std::vector<std::int64_t>> queries_;
  rank::CrossRanker net_{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer_;
};

}  // namespace funnel::train
