// Compiled with -mavx2 -mfma -mf16c (see CMakeLists.txt); only called after
// a run-time check of the CPU's features.
#include "prerank/kernels.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

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

// e^x for x <= 0 on 8 lanes: x = n ln2 + r with |r| <= ln2 / 2, e^r by a
// degree-6 polynomial (Cephes expf coefficients, relative error ~1e-7),
// 2^n built in the exponent bits. Inputs below -87 give 0.
inline __m256 exp_nonpositive(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.0f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_max_ps(x, lo);
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n ln2, with ln2 split in two for precision.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

float soft_attention(const float* cells, std::size_t m, float beta) {
  // Lanes past m hold -inf: weight 0 after the exp.
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  auto load = [&](std::size_t k) {
    if (k + 8 <= m) return _mm256_loadu_ps(cells + k);
    alignas(32) float buf[8];
    for (std::size_t t = 0; t < 8; ++t) buf[t] = k + t < m ? cells[k + t] : -INFINITY;
    return _mm256_load_ps(buf);
  };
  __m256 mx = ninf;
  for (std::size_t k = 0; k < m; k += 8) mx = _mm256_max_ps(mx, load(k));
  const __m256 top = _mm256_set1_ps(hmax(mx)), b = _mm256_set1_ps(beta);
  __m256 z = _mm256_setzero_ps(), s = _mm256_setzero_ps();
  for (std::size_t k = 0; k < m; k += 8) {
    const __m256 c = load(k);
    const __m256 w = exp_nonpositive(_mm256_mul_ps(b, _mm256_sub_ps(c, top)));
    z = _mm256_add_ps(z, w);
    // Padding lanes: w = 0 but c = -inf; 0 * -inf is NaN, so mask them.
    s = _mm256_add_ps(s, _mm256_and_ps(_mm256_cmp_ps(c, ninf, _CMP_NEQ_OQ), _mm256_mul_ps(w, c)));
  }
  return hsum(s) / hsum(z);
}

// See DotKernels::dot_rows_f32. Rows are prefetched kAhead ahead; two
// accumulators per row hide the FMA latency.
template <class T, class Load, bool kScaled>
void dot_rows(const float* q, const std::uint8_t* base, std::size_t row_bytes, const std::uint32_t* rows,
              std::size_t n, std::size_t dim, float* out) {
  constexpr std::size_t kAhead = 16;
  auto prefetch = [&](std::size_t c) {
    const std::uint8_t* p = base + static_cast<std::size_t>(rows[c]) * row_bytes;
    for (std::size_t off = 0; off < row_bytes; off += 64) __builtin_prefetch(p + off);
  };
  for (std::size_t c = 0; c < std::min(kAhead, n); ++c) prefetch(c);
  const std::size_t full = dim / 16 * 16;
  for (std::size_t c = 0; c < n; ++c) {
    if (c + kAhead < n) prefetch(c + kAhead);
    const std::uint8_t* row = base + static_cast<std::size_t>(rows[c]) * row_bytes;
    float scale = 1;
    if constexpr (kScaled) {
      std::memcpy(&scale, row, 4);
      row += 4;
    }
    const T* d = reinterpret_cast<const T*>(row);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    std::size_t k = 0;
    for (; k < full; k += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k), Load::load8(d + k), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k + 8), Load::load8(d + k + 8), a1);
    }
    for (; k + 8 <= dim; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k), Load::load8(d + k), a0);
    float acc = hsum(_mm256_add_ps(a0, a1));
    for (; k < dim; ++k) acc += q[k] * Load::one(d + k);
    out[c] = acc * scale;
  }
}

}  // namespace

const DotKernels* avx2_kernels() {
  static const DotKernels k{dot_f32,
                            dot_f16,
                            dot_i8,
                            cells<float, LoadF32>,
                            cells<std::uint16_t, LoadF16>,
                            cells<std::int8_t, LoadI8>,
                            soft_attention,
                            dot_rows<float, LoadF32, false>,
                            dot_rows<std::uint16_t, LoadF16, false>,
                            dot_rows<std::int8_t, LoadI8, true>,
                            "avx2"};
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
