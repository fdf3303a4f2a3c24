#include "rank/torch/cross_ranker.h"

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

}  // namespace funnel::rank
