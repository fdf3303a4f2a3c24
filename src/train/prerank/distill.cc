#include "train/prerank/distill.h"

#include <algorithm>
#include <cmath>

#include "funnel/error.h"

namespace funnel::train {

torch::Tensor margin_mse(const torch::Tensor& student_pos, const torch::Tensor& student_neg,
                         const torch::Tensor& teacher_pos, const torch::Tensor& teacher_neg) {
  auto target = (teacher_pos - teacher_neg).detach();
  return torch::mse_loss(student_pos - student_neg, target);
}

torch::Tensor inbatch_kl(const torch::Tensor& student, const torch::Tensor& teacher, double temperature) {
  if (!(temperature > 0)) throw Error("inbatch_kl: temperature must be > 0");
  if (student.sizes() != teacher.sizes() || student.dim() != 2)
    throw Error("inbatch_kl: student and teacher must be [B, N] matrices of the same shape");
  auto t = teacher.detach() / temperature;
  auto valid = torch::isfinite(t);
  auto p_t = torch::softmax(t, 1);
  auto log_p_t = torch::log_softmax(t, 1);
  auto log_p_s = torch::log_softmax(student.masked_fill(~valid, -1e9) / temperature, 1);
  // sum_j p_t (log p_t - log p_s), masked cells contribute 0.
  auto kl = torch::where(valid, p_t * (log_p_t - log_p_s), torch::zeros_like(p_t)).sum(1);
  return kl.mean() * temperature * temperature;
}

DistillWeights distill_schedule(std::int64_t step, std::int64_t total_steps, double max_weight, double rise,
                                double final_phase) {
  if (total_steps <= 0) throw Error("distill_schedule: total_steps must be > 0");
  const double t = std::clamp(static_cast<double>(step) / static_cast<double>(total_steps), 0.0, 1.0);
  DistillWeights w;
  w.distill = rise > 0 ? max_weight * std::min(1.0, t / rise) : max_weight;
  w.own = t >= 1.0 - final_phase && final_phase > 0 ? 0.0 : 1.0;
  return w;
}

ChildTuning::ChildTuning(double p, bool driven) : p_(p), driven_(driven) {
  if (!(p > 0 && p <= 1)) throw Error("child-tuning: the rate p must be in (0, 1]");
}
ChildTuning ChildTuning::task_free(double p) { return ChildTuning(p, false); }
ChildTuning ChildTuning::task_driven(double p) { return ChildTuning(p, true); }

void ChildTuning::accumulate_fisher(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  if (fisher_.empty())
    for (const auto& p : params) fisher_.push_back(torch::zeros_like(p));
  if (fisher_.size() != params.size()) throw Error("child-tuning: parameter list changed between calls");
  for (std::size_t i = 0; i < params.size(); ++i)
    if (params[i].grad().defined()) fisher_[i] += params[i].grad().pow(2);
}

void ChildTuning::freeze(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  if (fisher_.size() != params.size()) throw Error("child-tuning: accumulate_fisher() before freeze()");
  std::vector<torch::Tensor> flat;
  for (const auto& f : fisher_) flat.push_back(f.flatten());
  auto all = torch::cat(flat);
  const auto keep = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(p_ * static_cast<double>(all.numel()))));
  // The keep-th largest value is the threshold (ties may keep a few more).
  const auto threshold = std::get<0>(all.topk(keep)).min();
  masks_.clear();
  // Weights with no Fisher information (never touched by a gradient, e.g.
  // unused embedding rows) stay out even when the threshold is 0.
  for (const auto& f : fisher_) masks_.push_back(((f >= threshold) & (f > 0)).to(f.dtype()));
  fisher_.clear();
}

void ChildTuning::apply(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  if (driven_ && masks_.size() != params.size()) throw Error("child-tuning D: freeze() before apply()");
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto g = params[i].grad();
    if (!g.defined()) continue;
    if (driven_) {
      g.mul_(masks_[i]);
    } else {
      g.mul_(torch::bernoulli(torch::full_like(g, p_)) / p_);
    }
  }
}

}  // namespace funnel::train
