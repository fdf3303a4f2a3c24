// The libtorch baseline that serving kernels are benchmarked against:
// the same scores computed with batched libtorch ops. Torch-free header.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace funnel::model {

// Holds an fp32 copy of a store's rows as a tensor: rows x heads x dim.
class TorchScorerBaseline {
 public:
  TorchScorerBaseline(std::span<const float> rows, std::size_t n, std::uint32_t heads, std::uint32_t dim);
  ~TorchScorerBaseline();
  // Scores the candidates `rows` against query heads (nq x dim) with
  // "dot" or "soft_attention" (temperature beta): gather + batched matmul.
  void score(const std::string& matcher, float beta, std::span<const float> query, std::uint32_t nq,
             std::span<const std::uint32_t> rows, std::span<float> out) const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace funnel::model
