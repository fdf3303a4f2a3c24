// Distillation losses, schedule and child-tuning against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "funnel/error.h"
#include "train/prerank/distill.h"

namespace funnel::train {
namespace {

torch::Tensor t(std::vector<float> v) { return torch::tensor(v); }

TEST(Distill, MarginMseOnATinyBatch) {
  // Student margins [1, 0], teacher margins [2, -1]: squared errors 1 and 1.
  auto loss = margin_mse(t({2, 1}), t({1, 1}), t({3, 0}), t({1, 1}));
  EXPECT_NEAR(loss.item<double>(), 1.0, 1e-6);
  // The gradient flows to the student only.
  auto sp = t({2, 1}).requires_grad_(), tp = t({3, 0}).requires_grad_();
  margin_mse(sp, t({1, 1}), tp, t({1, 1})).backward();
  EXPECT_TRUE(sp.grad().defined());
  EXPECT_FALSE(tp.grad().defined());
  // d/ds_pos of mean((m_s - m_t)^2) = (m_s - m_t) (2 / B) = [-1, 1].
  EXPECT_NEAR(sp.grad()[0].item<double>(), -1.0, 1e-6);
  EXPECT_NEAR(sp.grad()[1].item<double>(), 1.0, 1e-6);
}

TEST(Distill, InBatchKlOnATinyBatch) {
  // Teacher [ln 3, 0] -> p = [3/4, 1/4]; uniform student.
  const double ln3 = std::log(3.0);
  const double kl1 = 0.75 * std::log(0.75 / 0.5) + 0.25 * std::log(0.25 / 0.5);
  auto s = torch::zeros({1, 2}), te = torch::tensor({{static_cast<float>(ln3), 0.0f}});
  EXPECT_NEAR(inbatch_kl(s, te, 1.0).item<double>(), kl1, 1e-6);
  // T = 2: p = softmax([ln3 / 2, 0]) = [sqrt 3, 1] / (sqrt 3 + 1), times T^2.
  const double a = std::sqrt(3.0) / (std::sqrt(3.0) + 1), b = 1 - a;
  const double kl2 = 4 * (a * std::log(a / 0.5) + b * std::log(b / 0.5));
  EXPECT_NEAR(inbatch_kl(s, te, 2.0).item<double>(), kl2, 1e-6);
  // Two rows average; a teacher cell at -inf (masked) is left out.
  auto s2 = torch::tensor({{0.0f, 0.0f, 5.0f}, {0.0f, 0.0f, 0.0f}});
  auto t2 = torch::tensor({{static_cast<float>(ln3), 0.0f, -INFINITY}, {0.0f, 0.0f, 0.0f}});
  EXPECT_NEAR(inbatch_kl(s2, t2, 1.0).item<double>(), kl1 / 2, 1e-6);
  // Equal matrices: zero.
  EXPECT_NEAR(inbatch_kl(te, te, 1.0).item<double>(), 0.0, 1e-7);
  EXPECT_THROW(inbatch_kl(s, te, 0.0), Error);
  EXPECT_THROW(inbatch_kl(torch::zeros({2, 2}), te, 1.0), Error);
}

TEST(Distill, ScheduleRisesThenDropsTheStudentsOwnLosses) {
  auto w = [](std::int64_t step) { return distill_schedule(step, 100, 2.0, 0.5, 0.2); };
  EXPECT_DOUBLE_EQ(w(0).distill, 0.0);
  EXPECT_DOUBLE_EQ(w(25).distill, 1.0);
  EXPECT_DOUBLE_EQ(w(50).distill, 2.0);
  EXPECT_DOUBLE_EQ(w(90).distill, 2.0);
  EXPECT_DOUBLE_EQ(w(79).own, 1.0);
  EXPECT_DOUBLE_EQ(w(80).own, 0.0);
  EXPECT_DOUBLE_EQ(distill_schedule(10, 100, 1.0, 0.0, 0.0).own, 1.0);
  EXPECT_THROW(distill_schedule(0, 0, 1.0, 0.5, 0.2), Error);
}

TEST(ChildTuning, TaskFreeKeepsTheRateAndRescales) {
  torch::manual_seed(3);
  auto p = torch::zeros({200000}).requires_grad_();
  p.mutable_grad() = torch::ones({200000});
  auto ct = ChildTuning::task_free(0.3);
  ct.apply({p});
  const auto g = p.grad();
  const double kept = (g != 0).sum().item<double>() / 200000.0;
  EXPECT_NEAR(kept, 0.3, 0.005);                              // Bernoulli(0.3) mask
  EXPECT_NEAR(g.max().item<double>(), 1.0 / 0.3, 1e-5);        // kept gradients rescaled by 1/p
  EXPECT_NEAR(g.mean().item<double>(), 1.0, 0.02);            // unbiased on average
  EXPECT_THROW(ChildTuning::task_free(0.0), Error);
  EXPECT_THROW(ChildTuning::task_free(1.5), Error);
}

TEST(ChildTuning, TaskDrivenKeepsTheLargestFisherInformation) {
  auto a = torch::zeros({4}).requires_grad_(), b = torch::zeros({2}).requires_grad_();
  a.mutable_grad() = t({1, 2, 3, 4});
  b.mutable_grad() = t({10, 0});
  auto ct = ChildTuning::task_driven(0.5);
  EXPECT_THROW(ct.apply({a, b}), Error);  // needs freeze() first
  ct.accumulate_fisher({a, b});           // squared: 1 4 9 16 | 100 0
  ct.freeze({a, b});                      // keeps the top 3 of 6: 100, 16, 9
  a.mutable_grad() = t({1, 1, 1, 1});
  b.mutable_grad() = t({1, 1});
  ct.apply({a, b});
  EXPECT_TRUE(torch::equal(a.grad(), t({0, 0, 1, 1})));
  EXPECT_TRUE(torch::equal(b.grad(), t({1, 0})));
}

TEST(ChildTuning, TaskDrivenLeavesOutWeightsWithoutFisherInformation) {
  // 7 of 8 weights never got a gradient: asked for half, the child network
  // holds only the one weight with information, not every zero tied at 0.
  auto a = torch::zeros({8}).requires_grad_();
  a.mutable_grad() = t({0, 0, 0, 0, 0, 0, 0, 3});
  auto ct = ChildTuning::task_driven(0.5);
  ct.accumulate_fisher({a});
  ct.freeze({a});
  a.mutable_grad() = torch::ones({8});
  ct.apply({a});
  EXPECT_TRUE(torch::equal(a.grad(), t({0, 0, 0, 0, 0, 0, 0, 1})));
}

}  // namespace
}  // namespace funnel::train
