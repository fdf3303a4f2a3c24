// The BERT-style text encoder shared by the models (the two-tower student's
// towers, the cross ranker, masked-language-model pre-training), and the
// padded token batch it reads. libtorch header: include only from src/nn,
// src/*/torch, src/train and their tests.
#pragma once

#include <torch/torch.h>

#include "nn/encoder_config.h"

namespace funnel::nn {

// Token ids [B, L] (int64) with padding mask [B, L] (bool, true = padding).
struct TokenBatch {
  torch::Tensor ids, pad;
  torch::Tensor bag, bag_offsets;  // hashed-word bag (EmbeddingBag input), or undefined
};

class TextEncoderImpl : public torch::nn::Module {
 public:
  explicit TextEncoderImpl(const EncoderConfig& c);
  // Mean of the non-padding token states (plus their max with pooling
  // "mean_max"): [B, hidden].
  torch::Tensor forward(const TokenBatch& b);
  // Every token's output state: [B, L, hidden] (what masked-language-model
  // pre-training predicts from).
  torch::Tensor states(const TokenBatch& b);

 private:
  bool mean_max_;
  torch::nn::Embedding tok_{nullptr}, pos_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Dropout drop_{nullptr};
  torch::nn::TransformerEncoder enc_{nullptr};
};
TORCH_MODULE(TextEncoder);

}  // namespace funnel::nn
