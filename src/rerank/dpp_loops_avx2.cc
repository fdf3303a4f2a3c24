// The DPP's loops with AVX2+FMA intrinsics, compiled with -mavx2 -mfma (see
// src/CMakeLists.txt); only called after a run-time check of the CPU.
#include "rerank/dpp_loops.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include <cmath>

namespace funnel::rerank::detail {
namespace {

static_assert(kDimLanes == 8 && kColumnLanes % 8 == 0, "one AVX register per 8 floats of a row");

// The 8 sums of a[r] (r < 8), in a fixed order for every r:
// ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)).
inline __m256 sums8(const __m256* a) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// Eight rows at a time: eight independent FMA chains share each load of v.
// The unroll pragmas keep the accumulators in registers at -O2 too.
void dots(const float* rows, std::size_t m, std::size_t dim, const float* v, float* out) {
  for (std::size_t i = 0; i < m; i += 8) {
    const float* base = rows + i * dim;
    __m256 a[8];
#pragma GCC unroll 8
    for (auto& x : a) x = _mm256_setzero_ps();
    for (std::size_t k = 0; k < dim; k += 8) {
      const __m256 x = _mm256_loadu_ps(v + k);
#pragma GCC unroll 8
      for (std::size_t r = 0; r < 8; ++r) a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(base + r * dim + k), x, a[r]);
    }
    _mm256_storeu_ps(out + i, sums8(a));
  }
}

// A panel of 32 columns keeps its sums in 8 registers across all t rows of
// the factor, which are one contiguous run of memory.
void cholesky_step(double* c, std::size_t cap, std::size_t m, std::size_t t, const double* cj, const float* s,
                   double inv_d, double* d2) {
  const __m256d inv = _mm256_set1_pd(inv_d);
  for (std::size_t i = 0; i < m; i += kColumnLanes) {
    double* panel = c + (i / kColumnLanes) * cap * kColumnLanes;
    __m256d acc[kColumnLanes / 4];
#pragma GCC unroll 8
    for (auto& x : acc) x = _mm256_setzero_pd();
    for (std::size_t k = 0; k < t; ++k) {
      const __m256d a = _mm256_broadcast_sd(cj + k);
      const double* row = panel + k * kColumnLanes;
#pragma GCC unroll 8
      for (std::size_t q = 0; q < kColumnLanes / 4; ++q) acc[q] = _mm256_fmadd_pd(a, _mm256_loadu_pd(row + 4 * q), acc[q]);
    }
    double* out = panel + t * kColumnLanes;
#pragma GCC unroll 8
    for (std::size_t q = 0; q < kColumnLanes / 4; ++q) {
      const __m256d sq = _mm256_cvtps_pd(_mm_loadu_ps(s + i + 4 * q));
      const __m256d e = _mm256_mul_pd(_mm256_sub_pd(sq, acc[q]), inv);
      _mm256_storeu_pd(out + 4 * q, e);
      _mm256_storeu_pd(d2 + i + 4 * q, _mm256_fnmadd_pd(e, e, _mm256_loadu_pd(d2 + i + 4 * q)));
    }
  }
}

std::size_t argmax(const double* w, const double* d2, std::size_t m, double* top) {
  __m256d b0 = _mm256_setzero_pd(), b1 = _mm256_setzero_pd();
  std::size_t i = 0;
  for (; i + 8 <= m; i += 8) {
    b0 = _mm256_max_pd(b0, _mm256_mul_pd(_mm256_loadu_pd(w + i), _mm256_loadu_pd(d2 + i)));
    b1 = _mm256_max_pd(b1, _mm256_mul_pd(_mm256_loadu_pd(w + i + 4), _mm256_loadu_pd(d2 + i + 4)));
  }
  for (; i < m; i += 4) b0 = _mm256_max_pd(b0, _mm256_mul_pd(_mm256_loadu_pd(w + i), _mm256_loadu_pd(d2 + i)));
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_max_pd(b0, b1));
  double best = lanes[0];
  for (int l = 1; l < 4; ++l) best = lanes[l] > best ? lanes[l] : best;
  *top = best;
  if (!(best > 0)) return m;
  // The same products as above, so the item holding the maximum always
  // qualifies; four at a time.
  const __m256d bound = _mm256_set1_pd(best), tie = _mm256_set1_pd(kTieFactor);
  for (i = 0; i < m; i += 4) {
    const __m256d p = _mm256_mul_pd(_mm256_mul_pd(_mm256_loadu_pd(w + i), _mm256_loadu_pd(d2 + i)), tie);
    const int mask = _mm256_movemask_pd(_mm256_cmp_pd(p, bound, _CMP_GE_OQ));
    if (mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
  return m;
}

// Three passes (norms, inverse square roots, scaling), so that no row waits
// for the previous row's square root.
void unit_rows(const float* v, std::size_t n, std::size_t dim, float* out, std::size_t out_dim, double* norm2) {
  for (std::size_t i = 0; i < n; ++i) {
    const float* row = v + i * dim;
    __m256 a = _mm256_setzero_ps();
    std::size_t k = 0;
    for (; k + 8 <= dim; k += 8) {
      const __m256 x = _mm256_loadu_ps(row + k);
      a = _mm256_fmadd_ps(x, x, a);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, a);
    float f = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for (; k < dim; ++k) f += row[k] * row[k];
    if (std::isfinite(f)) {
      norm2[i] = f;
    } else {  // overflow of float, or a value that is not finite
      double d = 0;
      for (k = 0; k < dim; ++k) d += static_cast<double>(row[k]) * row[k];
      norm2[i] = d;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const double x = norm2[i];
    const __m256 s = _mm256_set1_ps(x > 0 && std::isfinite(x) ? static_cast<float>(1 / std::sqrt(x)) : 0.0f);
    const float* row = v + i * dim;
    float* u = out + i * out_dim;
    std::size_t k = 0;
    for (; k + 8 <= dim; k += 8) _mm256_storeu_ps(u + k, _mm256_mul_ps(_mm256_loadu_ps(row + k), s));
    for (; k < dim; ++k) u[k] = row[k] * _mm256_cvtss_f32(s);
    for (; k < out_dim; ++k) u[k] = 0.0f;
  }
}

}  // namespace

const DppLoops* avx2_dpp_loops() {
  static const DppLoops loops{dots, cholesky_step, argmax, unit_rows, "avx2"};
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok ? &loops : nullptr;
}

}  // namespace funnel::rerank::detail

#else

namespace funnel::rerank::detail {
const DppLoops* avx2_dpp_loops() { return nullptr; }
}  // namespace funnel::rerank::detail

#endif
