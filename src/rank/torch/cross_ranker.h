// The cross ranker in libtorch: one tower reads "[CLS] query [SEP] title
// tags [SEP] body" through a BERT-style encoder; its pooled output joins the
// standardised cross and single-side features (rank::CrossFeatures) in a
// DNN, plus a wide linear path from the features; one logit per task head.
// libtorch header: include only from src/*/torch, src/nn, src/train and their tests.
#pragma once

#include <torch/torch.h>

#include "rank/ranker_config.h"
#include "nn/text_encoder.h"

namespace funnel::rank {

class CrossRankerImpl : public torch::nn::Module {
 public:
  explicit CrossRankerImpl(const CrossRankerConfig& c);
  // tokens: [B, L] pair tokens (ignored without use_text); features: [B, F]
  // raw feature values (ignored without use_features). Returns [B, tasks]
  // logits.
  torch::Tensor forward(const nn::TokenBatch& tokens, const torch::Tensor& features);
  // The encoder, for initialising it from a pre-trained one; null without use_text.
  nn::TextEncoder encoder() const { return enc_; }
  const CrossRankerConfig& config() const { return c_; }

 private:
  CrossRankerConfig c_;
  nn::TextEncoder enc_{nullptr};
  torch::nn::Linear wide_{nullptr}, heads_{nullptr};
  torch::nn::Sequential deep_{nullptr};
  torch::Tensor mean_, inv_std_;
};
TORCH_MODULE(CrossRanker);

// The logits (n x tasks) of n candidates as served: through `net` in chunks
// of 32 candidates of similar token length (a chunk's activations stay in
// cache whatever n is: one batch of 200 cost 1.7x per candidate what one of
// 100 did, and sorting by length cuts padding), in input order. `seqs`: the
// candidates' token sequences (empty without text); `features`: n x F
// (undefined without features). The rank stage and the trainer's dev check
// both call it, so their scores agree bit for bit.
torch::Tensor forward_in_chunks(CrossRanker& net, const std::vector<std::vector<std::int64_t>>& seqs,
                                const torch::Tensor& features, std::int64_t n);

}  // namespace funnel::rank
