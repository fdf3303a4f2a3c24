// One epoch of the student's training: in-batch InfoNCE with BM25 hard
// negatives, pairwise losses on clicks and human labels, and the
// distillation terms when they are on.
#include "train/prerank/trainer.h"

#include <algorithm>

#include "nn/batching.h"
#include "prerank/torch/doc_batch.h"
#include "train/common/log.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

double PrerankTrainer::train_epoch(int epoch) {
  model_->train();
  // Every random draw of an epoch (batches, negatives, dropout) derives
  // from (seed, epoch), so a resumed run repeats an uninterrupted one.
  detail::Rng rng(o_.seed * 1000003ull + static_cast<std::uint64_t>(epoch));
  torch::manual_seed(o_.seed * 1000003ull + static_cast<std::uint64_t>(epoch));
  std::vector<std::uint32_t> order(positives_.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  const std::size_t B = static_cast<std::size_t>(o_.batch);
  std::size_t steps = o_.steps_per_epoch > 0 ? static_cast<std::size_t>(o_.steps_per_epoch)
                                             : std::max<std::size_t>(1, order.size() / B);
  double total = 0;
  StepLog progress(log_, epoch, steps, static_cast<double>(B), "examples");
  for (std::size_t step = 0; step < steps; ++step) {
    std::vector<std::uint32_t> qrows, drows, negs;
    for (std::size_t b = 0; b < B; ++b) {
      const Pair& p = positives_[order[(step * B + b) % order.size()]];
      qrows.push_back(p.query);
      drows.push_back(p.doc);
      const auto& h = hard_[p.query];
      negs.push_back(!h.empty() ? h[rng.below(h.size())] : static_cast<std::uint32_t>(rng.below(ds_.corpus.docs.size())));
    }
    std::vector<std::uint32_t> all_docs = drows;
    all_docs.insert(all_docs.end(), negs.begin(), negs.end());
    auto q = model_->encode_queries(nn::make_token_batch(queries_, qrows, &queries_bow_));
    auto d = model_->encode_docs(prerank::make_doc_batch(docs_, all_docs));
    auto raw = model_->score_matrix(q, d);                      // [B, 2B]
    auto scores = raw / o_.temperature;
    // Another row's positive is no negative when it is the same doc or
    // the same query: mask those cells out of the softmax.
    auto mask = torch::zeros({static_cast<std::int64_t>(B), static_cast<std::int64_t>(2 * B)}, torch::kBool);
    auto ma = mask.accessor<bool, 2>();
    for (std::size_t i = 0; i < B; ++i)
      for (std::size_t j = 0; j < 2 * B; ++j)
        if (j != i && (all_docs[j] == drows[i] || (j < B && qrows[j] == qrows[i]) || relevant_[qrows[i]].count(all_docs[j])))
          ma[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(j)] = true;
    scores = scores.masked_fill(mask, -1e9);
    auto loss = torch::nn::functional::cross_entropy(scores, torch::arange(static_cast<std::int64_t>(B)));
    if (!click_pairs_.empty() && o_.pairwise_weight > 0)
      loss = loss + o_.pairwise_weight * pairwise_loss(click_pairs_, B / 2, rng);
    if (!label_pairs_.empty() && o_.graded_weight > 0)
      loss = loss + o_.graded_weight * pairwise_loss(label_pairs_, B / 2, rng);
    if (teacher_) loss = loss + distill_loss(raw, mask, qrows, all_docs);
    if (!ranker_lists_.empty()) {
      const auto total_steps = static_cast<std::int64_t>(steps) * o_.epochs;
      const auto global = static_cast<std::int64_t>(steps) * (epoch - 1) + static_cast<std::int64_t>(step);
      const DistillWeights w = distill_schedule(global, total_steps, o_.distill_ranker, o_.ranker_rise, o_.ranker_final);
      loss = w.own * loss;
      if (w.distill > 0) loss = loss + w.distill * ranker_loss(qrows, rng);
    }
    optimizer_->zero_grad();
    loss.backward();
    if (child_) child_->apply(model_->parameters());
    torch::nn::utils::clip_grad_norm_(model_->parameters(), 1.0);
    optimizer_->step();
    total += loss.item<double>();
    progress.step(step, total);
  }
  return total / static_cast<double>(steps);
}

// softplus(-(s_better - s_worse)) over a random batch of triples.
torch::Tensor PrerankTrainer::pairwise_loss(const std::vector<Triple>& pool, std::size_t n, detail::Rng& rng) {
  std::vector<std::uint32_t> qrows, better, worse;
  for (std::size_t i = 0; i < n; ++i) {
    const Triple& t = pool[rng.below(pool.size())];
    qrows.push_back(t.query);
    better.push_back(t.better);
    worse.push_back(t.worse);
  }
  auto q = model_->encode_queries(nn::make_token_batch(queries_, qrows, &queries_bow_));
  auto sb = model_->score_pairs(q, model_->encode_docs(prerank::make_doc_batch(docs_, better)));
  auto sw = model_->score_pairs(q, model_->encode_docs(prerank::make_doc_batch(docs_, worse)));
  return torch::nn::functional::softplus(sw - sb).mean();
}

}  // namespace funnel::train
