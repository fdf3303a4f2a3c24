// Compiled with -mavx2 -mfma -mf16c (see CMakeLists.txt); only called after
// a run-time check of the CPU's features.
#include "prerank/kernels.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include <algorithm>

namespace funnel::detail {
namespace {

inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

float dot_f32(const float* q, const float* d, std::size_t dim) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  std::size_t k = 0;
  for (; k + 16 <= dim; k += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k), _mm256_loadu_ps(d + k), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k + 8), _mm256_loadu_ps(d + k + 8), a1);
  }
  for (; k + 8 <= dim; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k), _mm256_loadu_ps(d + k), a0);
  float acc = hsum(_mm256_add_ps(a0, a1));
  for (; k < dim; ++k) acc += q[k] * d[k];
  return acc;
}

float dot_f16(const float* q, const std::uint16_t* d, std::size_t dim) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  std::size_t k = 0;
  for (; k + 16 <= dim; k += 16) {
    __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d + k)));
    __m256 d1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d + k + 8)));
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k), d0, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k + 8), d1, a1);
  }
  for (; k + 8 <= dim; k += 8) {
    __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d + k)));
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k), d0, a0);
  }
  float acc = hsum(_mm256_add_ps(a0, a1));
  for (; k < dim; ++k) acc += q[k] * _cvtsh_ss(d[k]);
  return acc;
}

float dot_i8(const float* q, const std::int8_t* d, std::size_t dim) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  std::size_t k = 0;
  for (; k + 16 <= dim; k += 16) {
    __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + k));
    __m256 d0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(raw));
    __m256 d1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(raw, 8)));
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k), d0, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k + 8), d1, a1);
  }
  float acc = hsum(_mm256_add_ps(a0, a1));
  for (; k < dim; ++k) acc += q[k] * static_cast<float>(d[k]);
  return acc;
}

struct LoadF32 {
  static __m256 load8(const float* d) { return _mm256_loadu_ps(d); }
  static float one(const float* d) { return *d; }
};
struct LoadF16 {
  static __m256 load8(const std::uint16_t* d) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d)));
  }
  static float one(const std::uint16_t* d) { return _cvtsh_ss(*d); }
};
struct LoadI8 {
  static __m256 load8(const std::int8_t* d) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(d))));
  }
  static float one(const std::int8_t* d) { return static_cast<float>(*d); }
};

// For each doc head, the chunk of 8 values is loaded (and converted) once
// and multiplied into up to 4 query heads' accumulators at a time.
template <class T, class Load>
void cells(const float* q, std::size_t nq, const T* d, std::size_t nd, std::size_t dim, float* out) {
  const std::size_t full = dim / 8 * 8;
  for (std::size_t j = 0; j < nd; ++j) {
    const T* dj = d + j * dim;
    for (std::size_t i0 = 0; i0 < nq; i0 += 4) {
      const std::size_t m = std::min<std::size_t>(4, nq - i0);
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
      for (std::size_t k = 0; k < full; k += 8) {
        const __m256 x = Load::load8(dj + k);
        for (std::size_t t = 0; t < m; ++t)
          acc[t] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (i0 + t) * dim + k), x, acc[t]);
      }
      for (std::size_t t = 0; t < m; ++t) {
        float s = hsum(acc[t]);
        for (std::size_t k = full; k < dim; ++k) s += q[(i0 + t) * dim + k] * Load::one(dj + k);
        out[(i0 + t) * nd + j] = s;
      }
    }
  }
}

}  // namespace

const DotKernels* avx2_kernels() {
  static const DotKernels k{dot_f32, dot_f16, dot_i8, cells<float, LoadF32>, cells<std::uint16_t, LoadF16>,
                            cells<std::int8_t, LoadI8>, "avx2"};
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                         __builtin_cpu_supports("f16c");
  return ok ? &k : nullptr;
}

}  // namespace funnel::detail

#else  // not x86-64 built with the AVX2 flags

namespace funnel::detail {
const DotKernels* avx2_kernels() { return nullptr; }
}  // namespace funnel::detail

#endif
