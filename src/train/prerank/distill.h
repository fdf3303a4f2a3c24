// Distillation losses, the distillation schedule and child-tuning
// (docs/techniques.md, section 5), as building blocks of the student's training.
// libtorch header: include only from src/model, src/train and their tests.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace funnel::train {

// MarginMSE (Hofstaetter et al. 2020): the student's positive-minus-negative
// score margin follows the teacher's. All inputs [B]; returns the mean of
// ((s_pos - s_neg) - (t_pos - t_neg))^2. The teacher is not differentiated.
torch::Tensor margin_mse(const torch::Tensor& student_pos, const torch::Tensor& student_neg,
                         const torch::Tensor& teacher_pos, const torch::Tensor& teacher_neg);

// In-batch matrix distillation: for each query (row) of a [B, N] score
// matrix, KL(softmax(teacher / T) || softmax(student / T)), averaged over
// rows and scaled by T^2 (Hinton et al.) so gradients keep their size as T
// changes. Cells that are -inf in the teacher (masked) are ignored.
torch::Tensor inbatch_kl(const torch::Tensor& student, const torch::Tensor& teacher, double temperature);

// The ranker-distillation schedule: the distillation weight rises linearly
// from 0 to `max_weight` over the first `rise` share of training; in the
// last `final_phase` share, the student's own losses are switched off.
struct DistillWeights {
  double distill = 0;  // multiplies the distillation loss
  double own = 1;      // multiplies the student's own losses
};
DistillWeights distill_schedule(std::int64_t step, std::int64_t total_steps, double max_weight, double rise,
                                double final_phase);

// Child-tuning (Xu et al. 2021), applied to gradients between backward()
// and the optimiser step.
class ChildTuning {
 public:
  // ChildTuning-F: each gradient element is kept with probability p and
  // rescaled by 1/p (a fresh Bernoulli mask per step).
  static ChildTuning task_free(double p);
  // ChildTuning-D: call accumulate_fisher() after backward() on some
  // batches, then freeze() to keep the share p of parameter elements with
  // the largest accumulated squared gradient; later steps update only those.
  static ChildTuning task_driven(double p);

  void accumulate_fisher(const std::vector<torch::Tensor>& params);
  void freeze(const std::vector<torch::Tensor>& params);
  // Masks the gradients of `params` in place (no-op for parameters without
  // a gradient). ChildTuning-D needs freeze() first.
  void apply(const std::vector<torch::Tensor>& params);

  double rate() const { return p_; }
  bool task_driven_mode() const { return driven_; }

 private:
  ChildTuning(double p, bool driven);
  double p_;
  bool driven_;
  std::vector<torch::Tensor> fisher_, masks_;
};

}  // namespace funnel::train
