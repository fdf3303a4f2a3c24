// Serving-time pre-rank scoring: the query tower's head vectors (computed
// once per request) against the stored doc head vectors of each candidate,
// without libtorch. SIMD kernels for every storage precision.
//
// Matchers (TECHNIQUES.md section 2a):
//   dot             one query head, one doc head: <q, d>
//   soft_attention  M_ij = <q_i, d_j>; score = sum_ij softmax(beta * M)_ij * M_ij,
//                   the softmax over all nq * nd cells
// (esim, which needs the matching layer's weights, comes with the model.)
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "funnel/embedding_store.h"

namespace funnel {

enum class Matcher { kDot, kSoftAttention };
std::string matcher_name(Matcher m);
Matcher parse_matcher(const std::string& name, const std::string& where);

struct ScorerOptions {
  Matcher matcher = Matcher::kSoftAttention;
  // Softmax temperature of soft_attention (TECHNIQUES.md 2a); must match the
  // value the model was trained with.
  float beta = 5.0f;
  // Force the portable kernels (for tests and benchmarks); default picks
  // the fastest the CPU supports.
  bool portable = false;
};

// Scores candidates of one store version. Immutable and thread-safe.
class PrerankScorer {
 public:
  // Throws funnel::Error when the matcher does not fit the store (dot needs
  // one doc head).
  PrerankScorer(std::shared_ptr<const EmbeddingStore> store, const ScorerOptions& options);

  // query: nq x dim floats (row-major, dim = the store's); rows: candidate
  // rows; out: one score per candidate (same length as rows).
  void score(std::span<const float> query, std::uint32_t nq, std::span<const std::uint32_t> rows,
             std::span<float> out) const;

  // Multiply-adds per scored pair, for cost reports.
  std::uint64_t flops_per_pair(std::uint32_t nq) const;
  const char* kernel_name() const;
  const EmbeddingStore& store() const { return *store_; }

 private:
  std::shared_ptr<const EmbeddingStore> store_;
  ScorerOptions options_;
  const void* kernels_;
};

// The n best (row, score) pairs, best first; ties by lower row.
std::vector<std::pair<std::uint32_t, float>> top_n(std::span<const std::uint32_t> rows,
                                                   std::span<const float> scores, std::size_t n);

}  // namespace funnel
