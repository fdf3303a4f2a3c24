// Serving-time pre-rank scoring: the query tower's head vectors (computed
// once per request) against the stored doc head vectors of each candidate,
// without libtorch. SIMD kernels for every storage precision.
//
// Matchers (docs/techniques.md, section 3):
//   dot             one query head, one doc head: <q, d>
//   soft_attention  M_ij = <q_i, d_j>; score = sum_ij softmax(beta * M)_ij * M_ij,
//                   the softmax over all nq * nd cells
//   esim            ESIM-style matching over the head vectors (alignment both
//                   ways, enhancement, avg + max pooling, MLP) with the
//                   trained matching layer's weights (EsimWeights), computed
//                   as batched matrix products with BLAS
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "funnel/embedding_store.h"

namespace funnel {

enum class Matcher { kDot, kSoftAttention, kEsim };
std::string matcher_name(Matcher m);
Matcher parse_matcher(const std::string& name, const std::string& where);

// The trained ESIM matching layer (model/two_tower.h, EsimMatcher), plain
// row-major floats. With D the head size and P the projection:
//   enhance  [P x 4D] + [P]: applied to [x; x~; x - x~; x * x~]
//   hidden   [P x 4P] + [P]: applied to [mean mq; max mq; mean md; max md]
//   out      [P] + 1
struct EsimWeights {
  std::uint32_t dim = 0, proj = 0;
  std::vector<float> enhance_w, enhance_b, hidden_w, hidden_b, out_w;
  float out_b = 0;
};

struct ScorerOptions {
  Matcher matcher = Matcher::kSoftAttention;
  // Softmax temperature of soft_attention (docs/techniques.md, section 3); must match the
  // value the model was trained with.
  float beta = 5.0f;
  // Force the portable kernels (for tests and benchmarks); default picks
  // the fastest the CPU supports.
  bool portable = false;
  // Required by Matcher::kEsim (dim must be the store's).
  std::shared_ptr<const EsimWeights> esim;
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
  void fold_esim();
  void score_esim(std::span<const float> query, std::uint32_t nq, std::span<const std::uint32_t> rows,
                  std::span<float> out) const;

  std::shared_ptr<const EmbeddingStore> store_;
  ScorerOptions options_;
  const void* kernels_;
  // esim: the enhancement weights folded by input (see esim.cc): x alone
  // [P x D], the query side's [a | x*a] [P x 2D], the doc side's
  // [x | a | x*a] [P x 3D].
  std::vector<float> esim_x_, esim_fold_q_, esim_fold_d_;
};

}  // namespace funnel
