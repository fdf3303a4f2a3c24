// The kernel of one DPP call (dpp.h), validated and prepared once and shared
// by the fast greedy, the naive greedy and dpp_log_det, so that all three see
// the same numbers: the unit vectors, the log relevances, the rows of S.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rerank/dpp.h"
#include "rerank/dpp_loops.h"

namespace funnel::rerank::detail {

class DppKernel {
 public:
  // Validates items and options (dpp.h lists the errors); `caller` opens
  // every error message. The unit vectors go to `unit` (resized; the caller
  // keeps it alive while the kernel is used, and may reuse it across calls).
  // Costs O(n dim).
  DppKernel(const DppItems& items, const DppOptions& options, const char* caller, std::vector<float>& unit);

  std::size_t size() const { return n_; }
  // size() rounded up to kColumnLanes: the length of a row.
  std::size_t columns() const { return columns_; }
  // theta == 1: the selection is the score order, there is no kernel.
  bool score_order_only() const { return score_order_only_; }
  // log r_i = alpha s_i + log kind_boost[kind_i] (undefined when score_order_only()).
  double log_relevance(std::size_t i) const { return log_relevance_[i]; }
  // S_ii = 1 + jitter, rounded to float like every entry of S.
  float diagonal() const { return diagonal_; }
  // The kernel row of item j: out[i] = S_ji for i < size(), 0 for the
  // padding up to columns(). out: columns() floats. O(n dim).
  void row(std::size_t j, float* out) const;
  // The loops row() uses, for the caller's Cholesky steps.
  const DppLoops& loops() const { return *loops_; }

 private:
  const DppLoops* loops_;
  std::size_t n_ = 0, columns_ = 0, dim_ = 0;  // dim_: padded to kDimLanes
  const float* unit_ = nullptr;                // columns_ x dim_, zero padding
  std::vector<double> log_relevance_;          // n
  std::span<const std::uint32_t> kinds_;
  std::span<const float> bias_;  // n_kinds x n_kinds or empty
  std::size_t n_kinds_ = 0;
  float diagonal_ = 1;
  bool score_order_only_ = false;
};

// Appends to picks the items not yet taken, by score (higher first, ties by
// lower index), until picks has `select` entries; marks them taken.
void fill_by_score(std::span<const float> scores, std::size_t select, std::vector<char>& taken,
                   std::vector<std::size_t>& picks);

}  // namespace funnel::rerank::detail
