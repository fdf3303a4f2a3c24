// The epoch loop of the two-tower student's training, its options and
// resuming (trainer.h lists where the rest lives).
#include "train/prerank/trainer.h"

#include <chrono>
#include <cmath>

#include "funnel/error.h"
#include "funnel/fusion.h"
#include "nn/encoder_config.h"
#include "nn/module_io.h"
#include "nn/model_files.h"
#include "train/common/log.h"
#include "train/common/torch_threads.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

PrerankTrainer::PrerankTrainer(const fs::path& data, const fs::path& out, const PrerankTrainOptions& o, const LogFn& log)
    : data_(data), dir_(out / "prerank"), o_(o), log_(log), rng_(o.seed) {}

PrerankTrainResult PrerankTrainer::run() {
  validate();
  torch::manual_seed(o_.seed);
  init_torch_threads(o_.threads);
  fs::create_directories(dir_);
  load_data();
  build_model();
  if (!o_.teacher.empty()) load_teacher();
  if (!o_.ranker_scores.empty()) load_ranker_scores();
  setup_child_tuning();
  PrerankTrainResult res;
  res.model_dir = dir_;
  res.dev_metric = dev_metric_;
  int start_epoch = 1;
  double best = -1;
  if (o_.resume && fs::exists(dir_ / "checkpoint.pt")) {
    start_epoch = resume(res, best);
  } else {
    auto m = evaluate_all();
    res.untrained_dev_auc = m.dev_auc;
    res.untrained = m;
    log_("fit: untrained model: dev " + dev_metric_ + " " + fmt("%.4f", m.dev_auc) + describe(m));
  }
  res.bm25_recall = cascade_.query.empty() ? std::nan("") : cascade_.bm25_recall;
  for (int epoch = start_epoch; epoch <= o_.epochs; ++epoch) {
    const auto t0 = Clock::now();
    const double loss = train_epoch(epoch);
    EpochLog e = evaluate_all();
    e.epoch = epoch;
    e.loss = loss;
    e.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    res.epochs.push_back(e);
    log_("fit: epoch " + std::to_string(epoch) + " loss " + fmt("%.4f", loss) + " dev " + fmt("%.4f", e.dev_auc) +
         describe(e) + " (" + fmt("%.0f", e.seconds) + " s)");
    if (e.dev_auc > best) {
      best = e.dev_auc;
      res.best_epoch = epoch;
      save_best(e, res);
    }
    append_log(e);
    save_checkpoint(epoch, best, res.best_epoch, res.untrained_dev_auc);
  }
  res.best_dev_auc = best;
  head_report(res);
  return res;
}

void PrerankTrainer::save_best(const EpochLog& e, PrerankTrainResult& res) {
  nn::save_module(model_, dir_ / "model.pt");
  RecallFusion f;
  f.weight = std::isnan(e.fusion_weight) ? 0.0 : e.fusion_weight;
  f.hybrid_weight = e.hybrid_fusion_weight;
  write_fusion_file(dir_ / "fusion.json", f, {{"epoch", e.epoch}, {"fitted", "cascade dev check of this run"}});
  res.fusion_weight = f.weight;
}

int PrerankTrainer::resume(PrerankTrainResult& res, double& best) {
  torch::serialize::InputArchive in;
  in.load_from((dir_ / "checkpoint.pt").string());
  model_->load(in);
  torch::serialize::InputArchive opt_in;
  in.read("optimizer", opt_in);
  optimizer_->load(opt_in);
  torch::Tensor meta;
  in.read("meta", meta);
  // The stored best is comparable only if it measured the same thing.
  const json m = fs::exists(dir_ / "checkpoint.json") ? nn::read_json_file(dir_ / "checkpoint.json") : json();
  const std::string stored = m.is_object() ? m.value("dev_metric", "") : "";
  if (stored != dev_metric_)
    throw Error("fit: --resume: the checkpoint in " + dir_.string() + " ranked epochs by '" +
                (stored.empty() ? std::string("an unrecorded metric") : stored) + "', this run by '" + dev_metric_ +
                "' (train into a new --out)");
  best = meta[1].item<double>();
  res.best_epoch = static_cast<int>(meta[2].item<double>());
  res.untrained_dev_auc = meta[3].item<double>();
  if (fs::exists(dir_ / "fusion.json")) res.fusion_weight = read_fusion_file(dir_ / "fusion.json").weight;
  const int start = static_cast<int>(meta[0].item<double>()) + 1;
  log_("fit: resuming after epoch " + std::to_string(start - 1) + " (best dev " + fmt("%.4f", best) + ")");
  return start;
}

void PrerankTrainer::validate() {
  if (o_.matcher == "dot") o_.nq = o_.nd = 1;
  if (o_.batch < 2) throw Error("fit: --batch must be >= 2");
  if (!o_.child_tuning.empty() && o_.child_tuning != "F" && o_.child_tuning != "D")
    throw Error("fit: --child-tuning must be F or D");
  if (!(o_.child_rate > 0 && o_.child_rate <= 1)) throw Error("fit: --child-rate must be in (0, 1]");
  if (!(o_.distill_temperature > 0)) throw Error("fit: --distill-temperature must be > 0");
  if (!(o_.distill_margin >= 0) || !(o_.distill_inbatch >= 0)) throw Error("fit: distillation weights must be >= 0");
  if (o_.epochs < 1) throw Error("fit: --epochs must be >= 1");
  if (!(o_.lr > 0)) throw Error("fit: --lr must be > 0");
  if (!o_.ranker_scores.empty()) {
    const fs::path f = fs::path(o_.ranker_scores) / "rank" / "train_scores.jsonl";
    if (!fs::is_regular_file(f)) throw Error(f.string() + ": missing (train the ranker with `funnel fit --stage rank` first)");
    if (!(o_.distill_ranker >= 0) || !(o_.ranker_temperature > 0))
      throw Error("fit: --distill-ranker must be >= 0 and its temperature > 0");
    if (!(o_.ranker_rise >= 0 && o_.ranker_final >= 0 && o_.ranker_rise + o_.ranker_final <= 1))
      throw Error("fit: the ranker schedule needs rise >= 0, final >= 0 and rise + final <= 1");
    if (o_.ranker_queries < 1 || o_.ranker_list < 2)
      throw Error("fit: ranker distillation needs >= 1 query and >= 2 docs per list");
  }
  if (!(o_.temperature > 0)) throw Error("fit: --temperature must be > 0");
  if (o_.device != "cpu" && !torch::cuda::is_available())
    throw Error("fit: --device " + o_.device + " requested but this libtorch build sees no CUDA device");
  nn::encoder_preset(o_.preset);  // throws on an unknown preset
}

const RecallChannel& PrerankTrainer::bm25() {
  if (!bm25_) bm25_ = std::make_unique<ScratchBm25>(ds_.corpus, dir_ / "bm25.tmp");
  return bm25_->channel();
}

PrerankTrainResult train_prerank(const fs::path& data, const fs::path& out, const PrerankTrainOptions& options,
                                 const LogFn& log) {
  PrerankTrainer t(data, out, options, log ? log : [](const std::string&) {});
  return t.run();
}

}  // namespace funnel::train
