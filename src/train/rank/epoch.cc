// One epoch of the ranker's training: a listwise softmax loss on each
// sampled list (target proportional to 2^grade - 1) and a binary
// cross-entropy per logged task on sampled impressions.
#include "train/rank/trainer.h"

#include <algorithm>
#include <cmath>

#include "train/common/log.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
// The position of a logged task in LoggedExample::label.
std::size_t logged_task_index(const std::string& task) {
  const auto& all = rank::all_rank_tasks();
  return static_cast<std::size_t>(std::find(all.begin() + 1, all.end(), task) - all.begin() - 1);
}
}  // namespace

double RankTrainer::train_epoch(int epoch) {
  net_->train();
  detail::Rng rng(o_.seed * 1000003ull + static_cast<std::uint64_t>(epoch) + 77);
  torch::manual_seed(o_.seed * 1000003ull + static_cast<std::uint64_t>(epoch) + 77);
  const std::size_t Q = static_cast<std::size_t>(o_.queries_per_step), L = static_cast<std::size_t>(o_.list_size);
  const std::size_t steps = o_.steps_per_epoch > 0 ? static_cast<std::size_t>(o_.steps_per_epoch)
                                                   : std::max<std::size_t>(1, lists_.size() / Q);
  std::vector<std::uint32_t> order(lists_.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  const bool has_logs = tasks_.size() > 1 && !logged_.empty() && o_.impressions_per_step > 0;
  double total = 0;
  StepLog progress(log_, epoch, steps, static_cast<double>(Q * L + (has_logs ? o_.impressions_per_step : 0)), "pairs");
  for (std::size_t step = 0; step < steps; ++step) {
    // Relevance: Q lists of L candidates, each with a relevant doc.
    std::vector<std::uint32_t> qs, rows;
    std::vector<float> feats, target;
    for (std::size_t b = 0; b < Q; ++b) {
      const QueryList& l = lists_[order[(step * Q + b) % order.size()]];
      std::vector<std::uint32_t> pos, pick;
      for (std::uint32_t i = 0; i < l.rows.size(); ++i)
        if (l.grade[i] > 0) pos.push_back(i);
      pick.push_back(pos[rng.below(pos.size())]);
      while (pick.size() < L) pick.push_back(static_cast<std::uint32_t>(rng.below(l.rows.size())));
      double z = 0;
      for (auto i : pick) z += std::exp2(l.grade[i]) - 1.0;
      for (auto i : pick) {
        qs.push_back(l.query);
        rows.push_back(l.rows[i]);
        feats.insert(feats.end(), l.feats.begin() + static_cast<std::ptrdiff_t>(i * kF),
                     l.feats.begin() + static_cast<std::ptrdiff_t>((i + 1) * kF));
        target.push_back(static_cast<float>((std::exp2(l.grade[i]) - 1.0) / z));
      }
    }
    auto logits = forward(qs, rows, feats);
    auto rel = logits.select(1, 0).reshape({static_cast<std::int64_t>(Q), static_cast<std::int64_t>(L)});
    auto tgt = torch::tensor(target).reshape({static_cast<std::int64_t>(Q), static_cast<std::int64_t>(L)});
    auto loss = config_.task_weights[0] * -(tgt * torch::log_softmax(rel, 1)).sum(1).mean();
    // Logged feedback: one BCE per task head.
    if (has_logs) {
      std::vector<std::uint32_t> lq, lr;
      std::vector<float> lf, labels;
      for (int i = 0; i < o_.impressions_per_step; ++i) {
        const auto& ex = logged_[rng.below(logged_.size())];
        lq.push_back(ex.query);
        lr.push_back(ex.row);
        lf.insert(lf.end(), ex.feats, ex.feats + kF);
        for (std::size_t t = 1; t < tasks_.size(); ++t)
          labels.push_back(ex.label[logged_task_index(tasks_[t])]);
      }
      auto lo = forward(lq, lr, lf).slice(1, 1);
      auto y = torch::tensor(labels).reshape({o_.impressions_per_step, static_cast<std::int64_t>(tasks_.size() - 1)});
      auto per_task = torch::nn::functional::binary_cross_entropy_with_logits(
                          lo, y, torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
                          .mean(0);
      std::vector<float> w(config_.task_weights.begin() + 1, config_.task_weights.end());
      loss = loss + (per_task * torch::tensor(w)).sum();
    }
    optimizer_->zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(net_->parameters(), 1.0);
    optimizer_->step();
    total += loss.item<double>();
    progress.step(step, total);
  }
  return total / static_cast<double>(steps);
}

}  // namespace funnel::train
