// What the student learns from others: a bigger two-tower teacher
// (MarginMSE, in-batch KL), the cross ranker's stored scores, and
// ChildTuning of its gradients.
#include "train/prerank/trainer.h"

#include <cmath>
#include <fstream>

#include "funnel/error.h"
#include "nn/batching.h"
#include "nn/model_files.h"
#include "nn/module_io.h"
#include "prerank/torch/doc_batch.h"
#include "rank/ranker_model.h"
#include "train/common/log.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

// The teacher's scores of the same batch: MarginMSE on each pair's
// (positive, hard negative), KL on each query's row over the batch's docs
// (cells masked for the student are masked for both). Both models' raw
// scores are divided by the InfoNCE temperature first, so the losses act
// on the logits the student's own loss uses: on raw cosine scores in
// [-1, 1] a softmax over the batch is almost flat and margins are tiny,
// and the distillation terms moved nothing (the first ablation run).
torch::Tensor PrerankTrainer::distill_loss(const torch::Tensor& raw, const torch::Tensor& mask,
                           const std::vector<std::uint32_t>& qrows, const std::vector<std::uint32_t>& all_docs) {
  torch::Tensor t;
  {
    torch::NoGradGuard no_grad;
    t = teacher_->score_matrix(teacher_->encode_queries(nn::make_token_batch(teacher_queries_, qrows, &teacher_queries_bow_)),
                               teacher_->encode_docs(prerank::make_doc_batch(teacher_docs_, all_docs))) /
        o_.temperature;
  }
  const auto student = raw / o_.temperature;
  const auto B = static_cast<std::int64_t>(qrows.size());
  auto idx = torch::arange(B);
  auto loss = torch::zeros({});
  if (o_.distill_margin > 0)
    loss = loss + o_.distill_margin * margin_mse(student.index({idx, idx}), student.index({idx, idx + B}),
                                                 t.index({idx, idx}), t.index({idx, idx + B}));
  if (o_.distill_inbatch > 0)
    loss = loss + o_.distill_inbatch * inbatch_kl(student, t.masked_fill(mask, -INFINITY), o_.distill_temperature);
  return loss;
}

// Reads the ranker's stored scores (MODELS/rank/train_scores.jsonl) and
// checks they came from the ranker now saved there.
void PrerankTrainer::load_ranker_scores() {
  const fs::path f = fs::path(o_.ranker_scores) / "rank" / "train_scores.jsonl";
  std::ifstream in(f);
  if (!in) throw Error(f.string() + ": missing (train the ranker with `funnel fit --stage rank` first)");
  std::string line;
  std::size_t lineno = 0;
  auto bad = [&](const std::string& what) { return Error(f.string() + ":" + std::to_string(lineno) + ": " + what); };
  while (std::getline(in, line)) {
    ++lineno;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw bad("malformed JSON");
    if (lineno == 1) {
      if (!j.contains("model_id") || !j["model_id"].is_string()) throw bad("the header line needs 'model_id'");
      ranker_model_id_ = j["model_id"];
      continue;
    }
    if (!j.contains("query_id") || !j.contains("docs") || !j.contains("scores") || !j["docs"].is_array() ||
        !j["scores"].is_array() || j["docs"].size() != j["scores"].size())
      throw bad("expected query_id, and docs and scores of equal length");
    auto qi = query_index_.find(j["query_id"].get<std::string>());
    if (qi == query_index_.end()) throw bad("query '" + j["query_id"].get<std::string>() + "' is not in queries.jsonl");
    auto& list = ranker_lists_[qi->second];
    for (std::size_t i = 0; i < j["docs"].size(); ++i) {
      if (!j["docs"][i].is_string() || !j["scores"][i].is_number()) throw bad("docs must be ids and scores numbers");
      auto row = ds_.corpus.find(j["docs"][i].get<std::string>());
      if (!row) throw bad("doc '" + j["docs"][i].get<std::string>() + "' is not in the corpus");
      list.push_back({*row, j["scores"][i].get<float>()});
    }
    if (list.size() < 2) ranker_lists_.erase(qi->second);
  }
  if (lineno == 0) throw Error(f.string() + ": empty");
  // Scores from an older ranker than the one saved beside them are stale.
  if (fs::exists(fs::path(o_.ranker_scores) / "rank" / "model.pt")) {
    const std::string now = rank::RankerModel::model_id_of(o_.ranker_scores);
    if (now != ranker_model_id_)
      throw Error(f.string() + ": the scores were stored by ranker " + ranker_model_id_ + " but " + o_.ranker_scores +
                  " now holds " + now + " (retrain the ranker to store fresh scores)");
  }
  for (auto& [q, l] : ranker_lists_) ranker_queries_.push_back(q);
  std::sort(ranker_queries_.begin(), ranker_queries_.end());
  log_("fit: distilling ranker " + ranker_model_id_ + " from its stored scores of " + std::to_string(ranker_lists_.size()) +
       " training queries: weight up to " + fmt("%.2f", o_.distill_ranker) + " over the first " +
       fmt("%.0f%%", 100 * o_.ranker_rise) + " of training, own losses off in the last " + fmt("%.0f%%", 100 * o_.ranker_final));
  std::ofstream meta(dir_ / "distill.json");
  meta << json{{"ranker_model_id", ranker_model_id_}, {"ranker_scores", f.string()}, {"weight", o_.distill_ranker},
               {"temperature", o_.ranker_temperature}, {"rise", o_.ranker_rise}, {"final", o_.ranker_final}}.dump(2)
       << '\n';
}

// KL between the ranker's and the student's softmax over a query's stored
// candidates, for up to ranker_queries queries of the batch that have them
// (others are drawn from the stored queries).
torch::Tensor PrerankTrainer::ranker_loss(const std::vector<std::uint32_t>& batch_queries, detail::Rng& rng) {
  std::vector<std::uint32_t> qs;
  for (auto q : batch_queries)
    if (qs.size() < static_cast<std::size_t>(o_.ranker_queries) && ranker_lists_.count(q)) qs.push_back(q);
  while (qs.size() < static_cast<std::size_t>(o_.ranker_queries)) qs.push_back(ranker_queries_[rng.below(ranker_queries_.size())]);
  const std::size_t Lr = static_cast<std::size_t>(o_.ranker_list);
  std::vector<std::uint32_t> qrows, drows;
  std::vector<float> teacher;
  for (auto q : qs) {
    const auto& l = ranker_lists_.at(q);
    for (std::size_t k = 0; k < Lr; ++k) {
      const auto& e = l[rng.below(l.size())];
      qrows.push_back(q);
      drows.push_back(e.first);
      teacher.push_back(e.second);
    }
  }
  const auto Q = static_cast<std::int64_t>(qs.size()), L = static_cast<std::int64_t>(Lr);
  auto s = model_->score_pairs(model_->encode_queries(nn::make_token_batch(queries_, qrows, &queries_bow_)),
                               model_->encode_docs(prerank::make_doc_batch(docs_, drows)))
               .reshape({Q, L}) / o_.temperature;
  return inbatch_kl(s, torch::tensor(teacher).reshape({Q, L}), o_.ranker_temperature);
}

void PrerankTrainer::load_teacher() {
  const fs::path dir = fs::path(o_.teacher) / "prerank";
  nn::require_files(dir, {"config.json", "tokenizer.model", "model.pt"}, "--teacher needs a trained models folder");
  const prerank::TwoTowerConfig tc =
      prerank::two_tower_from_json(nn::read_json_file(dir / "config.json"), (dir / "config.json").string());
  teacher_tokenizer_ = std::make_unique<nn::Tokenizer>(dir / "tokenizer.model");
  teacher_ = prerank::TwoTower(tc);
  nn::load_module(teacher_, dir / "model.pt");
  teacher_->eval();
  teacher_docs_ = prerank::featurize_docs(ds_.corpus, *teacher_tokenizer_, tc);
  std::vector<std::string> qtexts;
  for (const auto& q : ds_.queries) qtexts.push_back(q.text);
  teacher_queries_ = prerank::featurize_queries(qtexts, *teacher_tokenizer_, tc);
  if (tc.bow_buckets > 0) teacher_queries_bow_ = prerank::bow_of_texts(qtexts, tc.bow_buckets);
  std::int64_t params = 0;
  for (const auto& p : teacher_->parameters()) params += p.numel();
  log_("fit: teacher " + o_.teacher + " (" + tc.preset + ", " + std::to_string(params) + " parameters): MarginMSE x " +
       fmt("%.2f", o_.distill_margin) + ", in-batch KL x " + fmt("%.2f", o_.distill_inbatch) + " at T " +
       fmt("%.2f", o_.distill_temperature));
}

// ChildTuning-D's Fisher information: squared gradients of the in-batch
// loss over a few batches drawn from the seed, before any update.
void PrerankTrainer::setup_child_tuning() {
  if (o_.child_tuning.empty()) return;
  child_ = std::make_unique<ChildTuning>(o_.child_tuning == "D" ? ChildTuning::task_driven(o_.child_rate)
                                                               : ChildTuning::task_free(o_.child_rate));
  if (o_.child_tuning != "D") {
    log_("fit: ChildTuning-F, rate " + fmt("%.2f", o_.child_rate));
    return;
  }
  detail::Rng rng(o_.seed * 7919ull + 17);
  const std::size_t B = static_cast<std::size_t>(o_.batch);
  for (int b = 0; b < o_.child_fisher_batches; ++b) {
    std::vector<std::uint32_t> qrows, drows;
    for (std::size_t i = 0; i < B; ++i) {
      const Pair& p = positives_[rng.below(positives_.size())];
      qrows.push_back(p.query);
      drows.push_back(p.doc);
    }
    auto s = model_->score_matrix(model_->encode_queries(nn::make_token_batch(queries_, qrows, &queries_bow_)),
                                  model_->encode_docs(prerank::make_doc_batch(docs_, drows))) / o_.temperature;
    optimizer_->zero_grad();
    torch::nn::functional::cross_entropy(s, torch::arange(static_cast<std::int64_t>(B))).backward();
    child_->accumulate_fisher(model_->parameters());
  }
  optimizer_->zero_grad();
  child_->freeze(model_->parameters());
  log_("fit: ChildTuning-D, rate " + fmt("%.2f", o_.child_rate) + ", child network from the Fisher information of " +
       std::to_string(o_.child_fisher_batches) + " batches");
}

}  // namespace funnel::train
