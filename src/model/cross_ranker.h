// The cross ranker in libtorch: one tower reads "[CLS] query [SEP] title
// tags [SEP] body" through a BERT-style encoder; its pooled output joins the
// standardised cross and single-side features (rank::CrossFeatures) in a
// DNN, plus a wide linear path from the features; one logit per task head.
// libtorch header: include only from src/model, src/train and their tests.
#pragma once

#include <torch/torch.h>

#include "model/rank_config.h"
#include "model/two_tower.h"

namespace funnel::model {

class CrossRankerImpl : public torch::nn::Module {
 public:
  explicit CrossRankerImpl(const CrossRankerConfig& c);
  // tokens: [B, L] pair tokens (ignored without use_text); features: [B, F]
  // raw feature values (ignored without use_features). Returns [B, tasks]
  // logits.
  torch::Tensor forward(const TokenBatch& tokens, const torch::Tensor& features);
  // The encoder, for initialising it from a pre-trained one; null without use_text.
  TextEncoder encoder() const { return enc_; }
  const CrossRankerConfig& config() const { return c_; }

 private:
  CrossRankerConfig c_;
  TextEncoder enc_{nullptr};
  torch::nn::Linear wide_{nullptr}, heads_{nullptr};
  torch::nn::Sequential deep_{nullptr};
  torch::Tensor mean_, inv_std_;
};
TORCH_MODULE(CrossRanker);

}  // namespace funnel::model
