// The two-tower pre-rank model in libtorch: a BERT-style text encoder, a
// query tower with nq heads, a doc tower with one channel per input kind
// (text, or title + tags and body apart; author, category, image) fused by
// simple attention (Que2Search),
// nd heads, and a matcher (dot, soft_attention, esim).
// libtorch header: include only from src/*/torch, src/nn, src/train and their tests.
#pragma once

#include <torch/torch.h>

#include "nn/text_encoder.h"
#include "prerank/model_config.h"

namespace funnel::prerank {

struct DocBatch {
  nn::TokenBatch text;        // title + tags + text, or the body alone when split_fields
  nn::TokenBatch title;       // title + tags when split_fields, else undefined
  torch::Tensor author;   // [B] int64 bucket
  torch::Tensor category; // [B] int64
  torch::Tensor image;    // [B, image_dim] float, or undefined
};

// ESIM-style matching over head vectors treated as tokens (Chen et al. 2017):
// alignment both ways, enhancement [a; a~; a - a~; a * a~], projection,
// avg + max pooling, MLP -> score.
class EsimMatcherImpl : public torch::nn::Module {
 public:
  EsimMatcherImpl(int head_dim, int proj);
  // q [N, nq, D], d [N, nd, D] -> [N]
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& d);
  std::int64_t flops_per_pair(int nq, int nd, int head_dim) const;

 private:
  int proj_;
  torch::nn::Linear enhance_{nullptr}, hidden_{nullptr}, out_{nullptr};
};
TORCH_MODULE(EsimMatcher);

class TwoTowerImpl : public torch::nn::Module {
 public:
  explicit TwoTowerImpl(const TwoTowerConfig& c);

  torch::Tensor encode_queries(const nn::TokenBatch& q);  // [B, nq, D]
  torch::Tensor encode_docs(const DocBatch& d);       // [B, nd, D]
  // Scores of aligned pairs: q [B, nq, D], d [B, nd, D] -> [B].
  torch::Tensor score_pairs(const torch::Tensor& q, const torch::Tensor& d);
  // Scores of every query against every doc: [Bq, Bd].
  torch::Tensor score_matrix(const torch::Tensor& q, const torch::Tensor& d);
  // Multiply-adds x 2 per scored pair of the matcher alone.
  std::int64_t flops_per_pair() const;
  // The doc tower's channel weights of the last encode_docs call: [B, K].
  torch::Tensor last_fusion_weights() const { return fusion_weights_; }

  const TwoTowerConfig& config() const { return c_; }
  // The towers' encoders (the same one when shared), for initialising them
  // from a pre-trained encoder.
  nn::TextEncoder query_encoder() const { return query_enc_; }
  nn::TextEncoder doc_encoder() const { return doc_enc_; }

 private:
  TwoTowerConfig c_;
  nn::TextEncoder query_enc_{nullptr}, doc_enc_{nullptr};
  torch::nn::Linear query_heads_{nullptr}, doc_heads_{nullptr}, fusion_{nullptr};
  torch::nn::Embedding author_{nullptr}, category_{nullptr};
  torch::nn::EmbeddingBag bow_{nullptr};
  torch::nn::Sequential image_{nullptr};
  EsimMatcher esim_{nullptr};
  torch::Tensor fusion_weights_;
};
TORCH_MODULE(TwoTower);

}  // namespace funnel::prerank
