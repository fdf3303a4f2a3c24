// Inner products of a fp32 query head with one stored head in each storage
// precision. Two implementations: portable scalar code and AVX2+FMA+F16C
// intrinsics, picked once at run time from the CPU's features.
#pragma once

#include <cstddef>
#include <cstdint>

namespace funnel::detail {

struct DotKernels {
  // q: dim floats; d: dim stored values. Returns sum_k q[k] * d[k].
  float (*f32)(const float* q, const float* d, std::size_t dim);
  float (*f16)(const float* q, const std::uint16_t* d, std::size_t dim);
  // int8 values; the caller multiplies by the row's scale.
  float (*i8)(const float* q, const std::int8_t* d, std::size_t dim);
  // All nq x nd inner products of one candidate: q is nq x dim, d is nd x dim
  // stored values; out[i * nd + j] = <q_i, d_j> (int8: before the scale).
  // Each doc head is loaded and converted once for all query heads.
  void (*cells_f32)(const float* q, std::size_t nq, const float* d, std::size_t nd, std::size_t dim, float* out);
  void (*cells_f16)(const float* q, std::size_t nq, const std::uint16_t* d, std::size_t nd, std::size_t dim,
                    float* out);
  void (*cells_i8)(const float* q, std::size_t nq, const std::int8_t* d, std::size_t nd, std::size_t dim,
                   float* out);
  // soft_attention over m cells (m <= 4096): sum_i softmax(beta * c)_i * c_i.
  float (*soft_attention)(const float* cells, std::size_t m, float beta);
  // The dot matcher over a request's rows in one call: out[c] = <q, row
  // rows[c]>, row r at base + r * row_bytes (int8: a float scale, then the
  // values; the scale applied). One loop with the next rows prefetched, no
  // call per row: scattered rows then cost little more than reading them.
  void (*dot_rows_f32)(const float* q, const std::uint8_t* base, std::size_t row_bytes, const std::uint32_t* rows,
                       std::size_t n, std::size_t dim, float* out);
  void (*dot_rows_f16)(const float* q, const std::uint8_t* base, std::size_t row_bytes, const std::uint32_t* rows,
                       std::size_t n, std::size_t dim, float* out);
  void (*dot_rows_i8)(const float* q, const std::uint8_t* base, std::size_t row_bytes, const std::uint32_t* rows,
                      std::size_t n, std::size_t dim, float* out);
  const char* name;
};

const DotKernels& generic_kernels();
// nullptr when the CPU lacks AVX2, FMA or F16C.
const DotKernels* avx2_kernels();
// The fastest kernels this CPU supports.
const DotKernels& best_kernels();

}  // namespace funnel::detail
