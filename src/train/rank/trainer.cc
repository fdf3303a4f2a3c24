// The epoch loop of the cross ranker's training and its options (trainer.h
// lists where the rest lives).
#include "train/rank/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>

#include "funnel/error.h"
#include "nn/encoder_config.h"
#include "nn/module_io.h"
#include "rank/ranker_model.h"
#include "train/common/log.h"
#include "train/common/torch_threads.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

RankTrainer::RankTrainer(const fs::path& data, const fs::path& out, const RankTrainOptions& o, const LogFn& log)
    : data_(data), out_(out), dir_(out / "rank"), o_(o), log_(log) {}

RankTrainResult RankTrainer::run() {
  validate();
  torch::manual_seed(o_.seed);
  init_torch_threads(o_.threads);
  fs::create_directories(dir_);
  load_data();
  build_features();
  build_model();
  RankTrainResult res;
  res.model_dir = dir_;
  res.tasks = config_.tasks;
  res.bm25_dev_ndcg = bm25_dev_ndcg_;
  res.dev_lists = dev_.size();
  res.untrained_dev_ndcg = evaluate_dev().dev_ndcg;
  log_("fit: untrained ranker: dev nDCG@10 " + fmt("%.4f", res.untrained_dev_ndcg) + " (BM25 order of the same lists " +
       fmt("%.4f", bm25_dev_ndcg_) + ")");
  double best = -1;
  std::ofstream(dir_ / "train_log.jsonl", std::ios::trunc);
  for (int epoch = 1; epoch <= o_.epochs; ++epoch) {
    const auto t0 = Clock::now();
    const double loss = train_epoch(epoch);
    RankEpochLog e = evaluate_dev();
    e.epoch = epoch;
    e.loss = loss;
    e.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    res.epochs.push_back(e);
    log_("fit: epoch " + std::to_string(epoch) + " loss " + fmt("%.4f", e.loss) + " dev nDCG@10 " +
         fmt("%.4f", e.dev_ndcg) + ", with BM25 weight " + fmt("%g", e.fusion_weight) + " " + fmt("%.4f", e.fused_ndcg) +
         " (BM25 " + fmt("%.4f", bm25_dev_ndcg_) + ", " + fmt("%.0f", e.seconds) + " s)");
    const double key = std::isnan(e.fused_ndcg) ? static_cast<double>(epoch) : e.fused_ndcg;
    if (key > best || epoch == 1) {
      best = key;
      res.best_epoch = epoch;
      res.best_dev_ndcg = e.fused_ndcg;
      res.best_ranker_ndcg = e.dev_ndcg;
      res.fusion_weight = o_.fusion_weight ? *o_.fusion_weight : std::isnan(e.fusion_weight) ? 0.0 : e.fusion_weight;
      save_model(res.fusion_weight, epoch);
      write_dev_check(res.fusion_weight);
    }
    append_json_line(dir_ / "train_log.jsonl",
                     {{"epoch", epoch}, {"loss", e.loss}, {"dev_ndcg10", num(e.dev_ndcg)},
                      {"fused_dev_ndcg10", num(e.fused_ndcg)}, {"fusion_weight", num(e.fusion_weight)},
                      {"bm25_dev_ndcg10", num(bm25_dev_ndcg_)}, {"seconds", e.seconds}});
  }
  // Reload the best epoch's weights for the stored scores.
  nn::load_module(net_, dir_ / "model.pt");
  res.model_id = rank::RankerModel::model_id_of(out_);
  res.stored_queries = store_scores(res.model_id);
  return res;
}

void RankTrainer::validate() {
  if (o_.epochs < 1) throw Error("fit: --epochs must be >= 1");
  if (!(o_.lr > 0)) throw Error("fit: --lr must be > 0");
  if (o_.queries_per_step < 1 || o_.list_size < 2) throw Error("fit: need >= 1 query and >= 2 docs per list");
  if (o_.max_len < 8 || o_.max_len > 512) throw Error("fit: --max-len must be in 8..512");
  if (!o_.use_text && !o_.use_features) throw Error("fit: the ranker needs the text tower, the features or both");
  if (o_.candidate_depth < 2) throw Error("fit: --candidate-depth must be >= 2");
  if (o_.fusion_weight && !(*o_.fusion_weight >= 0 && std::isfinite(*o_.fusion_weight)))
    throw Error("fit: the ranker's given BM25 fusion weight must be finite and >= 0");
  const auto& tasks = rank::all_rank_tasks();
  for (auto& [t, w] : o_.task_weights) {
    if (std::find(tasks.begin(), tasks.end(), t) == tasks.end()) {
      std::string known;
      for (const auto& k : tasks) known += (known.empty() ? "" : ", ") + k;
      throw Error("fit: --task-weights: unknown task '" + t + "' (expected one of " + known + ")");
    }
    if (!(w >= 0) || !std::isfinite(w)) throw Error("fit: --task-weights: the weight of '" + t + "' must be a number >= 0");
  }
  nn::encoder_preset(o_.preset);
}

const RecallChannel& RankTrainer::bm25() {
  if (!bm25_) bm25_ = std::make_unique<ScratchBm25>(ds_.corpus, dir_ / "bm25.tmp");
  return bm25_->channel();
}

const std::vector<double>& rank_fusion_grid() {
  static const std::vector<double> grid = {0, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 1000};
  return grid;
}

RankTrainResult train_rank(const fs::path& data, const fs::path& out, const RankTrainOptions& options, const LogFn& log) {
  RankTrainer t(data, out, options, log ? log : [](const std::string&) {});
  return t.run();
}

}  // namespace funnel::train
