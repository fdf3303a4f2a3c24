// What the student's training leaves behind besides the model: the
// checkpoint, the JSON log and the head report.
#include "train/prerank/trainer.h"

#include <cmath>

#include "nn/batching.h"
#include "nn/module_io.h"
#include "prerank/torch/doc_batch.h"
#include "train/common/log.h"
#include "util/fs.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

// Mean cosine matrix between the heads of one side, over a sample.
std::vector<double> PrerankTrainer::mean_cosine(const torch::Tensor& heads) {
  auto h = torch::nn::functional::normalize(heads, torch::nn::functional::NormalizeFuncOptions().dim(2));
  auto m = torch::matmul(h, h.transpose(1, 2)).mean(0).contiguous().to(torch::kDouble);  // [n, n]
  return std::vector<double>(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
}

void PrerankTrainer::head_report(PrerankTrainResult& res) {
  torch::NoGradGuard no_grad;
  model_->eval();
  std::vector<std::uint32_t> qrows, drows;
  for (std::uint32_t i = 0; i < queries_.size() && qrows.size() < 1000; ++i) qrows.push_back(i);
  for (std::uint32_t i = 0; i < docs_.tokens.size() && drows.size() < 1000; ++i) drows.push_back(i);
  res.query_head_cosine = mean_cosine(model_->encode_queries(nn::make_token_batch(queries_, qrows, &queries_bow_)));
  res.doc_head_cosine = mean_cosine(model_->encode_docs(prerank::make_doc_batch(docs_, drows)));
  auto show = [&](const char* what, const std::vector<double>& m, int n) {
    std::string line = std::string("fit: mean cosine between a ") + what + "'s heads:";
    for (int i = 0; i < n; ++i) {
      if (i > 0) line += " |";
      for (int j = 0; j < n; ++j) line += " " + fmt("%+.2f", m[static_cast<std::size_t>(i * n + j)]);
    }
    log_(line);
  };
  show("query", res.query_head_cosine, config_.nq);
  show("doc", res.doc_head_cosine, config_.nd);
  append_json_line(dir_ / "train_log.jsonl",
                   {{"head_report", {{"query_head_cosine", res.query_head_cosine}, {"doc_head_cosine", res.doc_head_cosine},
                                     {"nq", config_.nq}, {"nd", config_.nd}}}});
}

void PrerankTrainer::append_log(const EpochLog& e) {
  append_json_line(dir_ / "train_log.jsonl", json{{"epoch", e.epoch}, {"loss", e.loss}, {"dev_auc", e.dev_auc}, {"dev_gauc", num(e.dev_gauc)},
              {"click_auc", num(e.click_auc)}, {"click_gauc", num(e.click_gauc)}, {"label_auc", num(e.label_auc)},
              {"cascade_recall", num(e.cascade_recall)}, {"fused_recall", num(e.fused_recall)},
              {"fusion_weight", num(e.fusion_weight)}, {"hybrid_recall", num(e.hybrid_recall)},
              {"hybrid_fusion_weight", num(e.hybrid_fusion_weight)}, {"bm25_recall", num(cascade_.query.empty() ? std::nan("") : cascade_.bm25_recall)},
              {"seconds", e.seconds},
              {"dev_metric", dev_metric_}});
}

void PrerankTrainer::save_checkpoint(int epoch, double best, int best_epoch, double untrained) {
  nn::save_atomically(dir_ / "checkpoint.pt", [&](const std::string& p) {
        torch::serialize::OutputArchive out;
        model_->save(out);
        torch::serialize::OutputArchive opt;
        optimizer_->save(opt);
        out.write("optimizer", opt);
        out.write("meta", torch::tensor({static_cast<double>(epoch), best, static_cast<double>(best_epoch), untrained},
                                        torch::kDouble));
        out.save_to(p);
      });
  detail::AtomicFile f(dir_ / "checkpoint.json");
  f.stream() << json{{"epoch", epoch}, {"best", best}, {"best_epoch", best_epoch}, {"dev_metric", dev_metric_}}.dump(2)
             << '\n';
  f.commit();
}

}  // namespace funnel::train
