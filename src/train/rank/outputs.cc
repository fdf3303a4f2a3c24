// What the ranker's training leaves in OUT/rank: the model, its config,
// the cross-feature statistics, the fusion weight, the data folder it was
// trained on, and its scores on training candidates for distillation.
#include "train/rank/trainer.h"

#include "funnel/fusion.h"
#include "nn/module_io.h"
#include "util/fs.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

void RankTrainer::save_model(double fusion_weight, int epoch) {
  nn::save_module(net_, dir_ / "model.pt");
  {
    detail::AtomicFile f(dir_ / "config.json");
    f.stream() << to_json(config_).dump(2) << '\n';
    f.commit();
  }
  serving_features_->save(dir_ / "features.bin");
  RecallFusion fusion;
  fusion.weight = fusion_weight;
  write_fusion_file(dir_ / "fusion.json", fusion,
                    {{"epoch", epoch}, {"fitted", o_.fusion_weight ? o_.fusion_source : std::string("dev lists of this run")}});
  detail::AtomicFile d(dir_ / "data.json");
  d.stream() << json{{"data", fs::absolute(data_).lexically_normal().string()}}.dump(2) << '\n';
  d.commit();
}

// The ranker's serving score on each training query's BM25 top
// stored_depth (with its out-of-fold features, as in training), stored
// once so that distilling it into the pre-ranker needs no ranker
// inference: OUT/rank/train_scores.jsonl, a header line with the model id.
std::size_t RankTrainer::store_scores(const std::string& model_id) {
  if (o_.stored_depth == 0) return 0;
  torch::NoGradGuard no_grad;
  net_->eval();
  detail::AtomicFile f(dir_ / "train_scores.jsonl");
  f.stream() << json{{"model_id", model_id}, {"depth", o_.stored_depth}, {"score", "sum of score_weights x head logits"},
                     {"features", "out-of-fold click history"}}.dump()
             << '\n';
  std::size_t n = 0;
  for (const auto& full : lists_) {
    QueryList l;
    l.query = full.query;
    const std::size_t m = std::min(o_.stored_depth, full.rows.size());
    l.rows.assign(full.rows.begin(), full.rows.begin() + static_cast<std::ptrdiff_t>(m));
    l.feats.assign(full.feats.begin(), full.feats.begin() + static_cast<std::ptrdiff_t>(m * kF));
    auto sc = score_list(l);
    std::vector<std::string> ids;
    for (auto r : l.rows) ids.push_back(ds_.corpus.docs[r].id);
    f.stream() << json{{"query_id", ds_.queries[l.query].id}, {"docs", ids}, {"scores", sc}}.dump() << '\n';
    ++n;
  }
  f.commit();
  log_("fit: stored the ranker's scores of " + std::to_string(n) + " training queries' top " +
       std::to_string(o_.stored_depth) + " in " + (dir_ / "train_scores.jsonl").string());
  return n;
}

}  // namespace funnel::train
