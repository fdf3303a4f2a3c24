// The hot loops of the DPP (dpp.h): the kernel row of a pick, one step of
// the incremental Cholesky over all candidates, the choice of the next pick,
// and the unit vectors. Two builds: plain loops for any x86-64 and AVX2+FMA intrinsics,
// picked once at run time from the CPU's features, as the pre-rank kernels
// are (src/prerank/kernels.h).
#pragma once

#include <cstddef>

namespace funnel::rerank::detail {

// Rows and columns are padded with zeros to these multiples, so the loops
// have no remainder: the vectors' dimension to kDimLanes, the number of
// candidates (the Cholesky panel width) to kColumnLanes.
inline constexpr std::size_t kDimLanes = 8;
inline constexpr std::size_t kColumnLanes = 32;

// Near-ties go to the lower index: the pick is the first item whose gain is
// within this factor of the largest (in the log domain: within its log).
inline constexpr double kTieFactor = 1 + 1e-9;

struct DppLoops {
  // out[i] = <rows_i, v> for i < m. rows: m x dim row-major, v: dim floats;
  // m % kColumnLanes == 0, dim % kDimLanes == 0. Every out[i] is summed in
  // the same order whatever i, so <a, b> == <b, a> bit for bit.
  void (*dots)(const float* rows, std::size_t m, std::size_t dim, const float* v, float* out);
  // One step of the incremental Cholesky factor, for the m columns
  // (m % kColumnLanes == 0). c holds the factor in panels of kColumnLanes
  // columns: entry (k, i), k < cap, at
  //   c[((i / kColumnLanes) * cap + k) * kColumnLanes + i % kColumnLanes].
  // With cj = the first t entries of the pivot's column, s = the pivot's
  // kernel row (m floats) and inv_d = 1 / sqrt(the pivot's gain), for all i:
  //   e_i = (s_i - sum_{k<t} cj[k] c(k, i)) * inv_d;  c(t, i) = e_i;  d2[i] -= e_i^2.
  void (*cholesky_step)(double* c, std::size_t cap, std::size_t m, std::size_t t, const double* cj,
                        const float* s, double inv_d, double* d2);
  // The first i < m with w[i] d2[i] * kTieFactor >= max_j w[j] d2[j], and
  // that maximum in *top; m when the maximum is not > 0. m % 4 == 0.
  std::size_t (*argmax)(const double* w, const double* d2, std::size_t m, double* top);
  // The unit vectors: for i < n, row i of out (out_dim floats, out_dim >=
  // dim) = v_i / |v_i| (0 when v_i = 0), zero-padded, where v is n x dim
  // row-major; norm2[i] = |v_i|^2, not finite only when some value of v_i is
  // not (a sum that overflows float is redone in double).
  void (*unit_rows)(const float* v, std::size_t n, std::size_t dim, float* out, std::size_t out_dim, double* norm2);
  const char* name;
};

const DppLoops& generic_dpp_loops();
// nullptr when the CPU lacks AVX2 or FMA, or the build is not x86-64.
const DppLoops* avx2_dpp_loops();
// The fastest loops this CPU supports.
const DppLoops& best_dpp_loops();

}  // namespace funnel::rerank::detail
