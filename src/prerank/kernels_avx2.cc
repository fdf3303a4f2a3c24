// Compiled with -mavx2 -mfma -mf16c (see CMakeLists.txt); only called after
// a run-time check of the CPU's features.
#include "prerank/kernels.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

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

}  // namespace

const DotKernels* avx2_kernels() {
  static const DotKernels k{dot_f32, dot_f16, dot_i8, "avx2"};
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
