#include <algorithm>
#include <cmath>
#include <cstring>

#include "funnel/embedding_store.h"
#include "prerank/kernels.h"

namespace funnel::detail {
namespace {

// Four accumulators so that the compiler can keep independent chains in
// flight even without -ffast-math (which would allow it to reassociate).
float dot_f32(const float* q, const float* d, std::size_t dim) {
  float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  std::size_t k = 0;
  for (; k + 4 <= dim; k += 4) {
    a0 += q[k] * d[k];
    a1 += q[k + 1] * d[k + 1];
    a2 += q[k + 2] * d[k + 2];
    a3 += q[k + 3] * d[k + 3];
  }
  for (; k < dim; ++k) a0 += q[k] * d[k];
  return (a0 + a1) + (a2 + a3);
}

float dot_f16(const float* q, const std::uint16_t* d, std::size_t dim) {
  float acc = 0;
  for (std::size_t k = 0; k < dim; ++k) acc += q[k] * half_to_float(d[k]);
  return acc;
}

float dot_i8(const float* q, const std::int8_t* d, std::size_t dim) {
  float acc = 0;
  for (std::size_t k = 0; k < dim; ++k) acc += q[k] * static_cast<float>(d[k]);
  return acc;
}

template <class T, float (*Dot)(const float*, const T*, std::size_t)>
void cells(const float* q, std::size_t nq, const T* d, std::size_t nd, std::size_t dim, float* out) {
  for (std::size_t i = 0; i < nq; ++i)
    for (std::size_t j = 0; j < nd; ++j) out[i * nd + j] = Dot(q + i * dim, d + j * dim, dim);
}

// Softmax over all cells, shifted by the max for stability.
float soft_attention(const float* cells, std::size_t m, float beta) {
  float mx = cells[0];
  for (std::size_t i = 1; i < m; ++i) mx = std::max(mx, cells[i]);
  float z = 0, s = 0;
  for (std::size_t i = 0; i < m; ++i) {
    float w = std::exp(beta * (cells[i] - mx));
    z += w;
    s += w * cells[i];
  }
  return s / z;
}

template <class T, float (*Dot)(const float*, const T*, std::size_t), bool kScaled>
void dot_rows(const float* q, const std::uint8_t* base, std::size_t row_bytes, const std::uint32_t* rows,
              std::size_t n, std::size_t dim, float* out) {
  for (std::size_t c = 0; c < n; ++c) {
    const std::uint8_t* row = base + static_cast<std::size_t>(rows[c]) * row_bytes;
    float scale = 1;
    if constexpr (kScaled) {
      std::memcpy(&scale, row, 4);
      row += 4;
    }
    out[c] = Dot(q, reinterpret_cast<const T*>(row), dim) * scale;
  }
}

}  // namespace

const DotKernels& generic_kernels() {
  static const DotKernels k{dot_f32,
                            dot_f16,
                            dot_i8,
                            cells<float, dot_f32>,
                            cells<std::uint16_t, dot_f16>,
                            cells<std::int8_t, dot_i8>,
                            soft_attention,
                            dot_rows<float, dot_f32, false>,
                            dot_rows<std::uint16_t, dot_f16, false>,
                            dot_rows<std::int8_t, dot_i8, true>,
                            "generic"};
  return k;
}

const DotKernels& best_kernels() {
  static const DotKernels* best = avx2_kernels() ? avx2_kernels() : &generic_kernels();
  return *best;
}

}  // namespace funnel::detail
