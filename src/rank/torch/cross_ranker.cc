#include "rank/torch/cross_ranker.h"

#include <algorithm>

#include "nn/batching.h"

namespace funnel::rank {

CrossRankerImpl::CrossRankerImpl(const CrossRankerConfig& c) : c_(c) {
  std::int64_t in = 0;
  if (c.use_text) {
    enc_ = register_module("enc", nn::TextEncoder(c.encoder));
    in += c.encoder.hidden;
  }
  const auto T = static_cast<std::int64_t>(c.tasks.size());
  if (c.use_features) {
    in += c.n_features;
    wide_ = register_module("wide", torch::nn::Linear(c.n_features, T));
    mean_ = torch::tensor(c.feature_mean, torch::kFloat).unsqueeze(0);
    std::vector<float> inv;
    for (float s : c.feature_std) inv.push_back(1.0f / s);
    inv_std_ = torch::tensor(inv, torch::kFloat).unsqueeze(0);
  }
  torch::nn::Sequential deep;
  std::int64_t width = in;
  for (int h : c.dnn) {
    deep->push_back(torch::nn::Linear(width, h));
    deep->push_back(torch::nn::GELU());
    width = h;
  }
  deep_ = register_module("deep", deep);
  heads_ = register_module("heads", torch::nn::Linear(width, T));
}

torch::Tensor CrossRankerImpl::forward(const nn::TokenBatch& tokens, const torch::Tensor& features) {
  std::vector<torch::Tensor> parts;
  if (enc_) parts.push_back(enc_(tokens));
  torch::Tensor f;
  if (c_.use_features) {
    // Standardised and clipped, so one extreme value cannot dominate.
    f = ((features - mean_) * inv_std_).clamp(-8.0, 8.0);
    parts.push_back(f);
  }
  auto out = heads_(deep_->forward(torch::cat(parts, 1)));
  if (wide_) out = out + wide_(f);
  return out;
}

torch::Tensor forward_in_chunks(CrossRanker& net, const std::vector<std::vector<std::int64_t>>& seqs,
                                const torch::Tensor& features, std::int64_t n) {
  constexpr std::size_t kChunk = 32;
  std::vector<std::uint32_t> order(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
  if (!seqs.empty())
    std::stable_sort(order.begin(), order.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return seqs[a].size() < seqs[b].size(); });
  torch::Tensor out;
  for (std::size_t from = 0; from < order.size(); from += kChunk) {
    const std::vector<std::uint32_t> idx(order.begin() + static_cast<std::ptrdiff_t>(from),
                                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), from + kChunk)));
    const auto sel = torch::tensor(std::vector<std::int64_t>(idx.begin(), idx.end()), torch::kLong);
    nn::TokenBatch tb;
    if (!seqs.empty()) tb = nn::make_token_batch(seqs, idx);
    const torch::Tensor f = features.defined() ? features.index_select(0, sel) : torch::Tensor();
    const torch::Tensor lo = net->forward(tb, f);
    if (!out.defined()) out = torch::empty({n, lo.size(1)}, lo.options());
    out.index_copy_(0, sel, lo);
  }
  return out;
}

}  // namespace funnel::rank
