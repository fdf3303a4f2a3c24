// The libtorch baseline that serving kernels are benchmarked against:
// the same scores computed with batched libtorch ops. Torch-free header.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "funnel/prerank_scorer.h"

namespace funnel::prerank {

// Holds an fp32 copy of a store's rows as a tensor: rows x heads x dim.
class TorchScorerBaseline {
 public:
  TorchScorerBaseline(std::span<const float> rows, std::size_t n, std::uint32_t heads, std::uint32_t dim);
  ~TorchScorerBaseline();
  // The esim layer's weights, needed before score("esim", ...).
  void set_esim(const EsimWeights& w);
  // Scores the candidates `rows` against query heads (nq x dim) with
  // "dot" or "soft_attention" (temperature beta): gather + batched matmul;
  // "esim": gather + the training graph's ops (model/two_tower.cc).
  void score(const std::string& matcher, float beta, std::span<const float> query, std::uint32_t nq,
             std::span<const std::uint32_t> rows, std::span<float> out) const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace funnel::prerank
