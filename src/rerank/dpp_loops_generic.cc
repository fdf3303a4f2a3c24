// The DPP's loops in plain C++ for any machine, and the run-time choice.
#include "rerank/dpp_loops.h"

#include <cmath>

namespace funnel::rerank::detail {
namespace {

static_assert(kDimLanes == 8, "dots() adds its eight partial sums by hand");

// Eight partial sums per row (which GCC keeps in vector registers without
// reassociating), added in one fixed order.
void dots(const float* rows, std::size_t m, std::size_t dim, const float* v, float* out) {
  for (std::size_t i = 0; i < m; ++i) {
    const float* row = rows + i * dim;
    float a[kDimLanes] = {};
    for (std::size_t k = 0; k < dim; k += kDimLanes)
      for (std::size_t l = 0; l < kDimLanes; ++l) a[l] += row[k + l] * v[k + l];
    out[i] = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
  }
}

// A block of columns keeps its sums in registers across all rows of the
// factor; the panel layout makes those rows one contiguous run.
void cholesky_step(double* c, std::size_t cap, std::size_t m, std::size_t t, const double* cj, const float* s,
                   double inv_d, double* d2) {
  constexpr std::size_t kBlock = 8;
  for (std::size_t i = 0; i < m; i += kBlock) {
    double* panel = c + (i / kColumnLanes) * cap * kColumnLanes + i % kColumnLanes;
    double acc[kBlock] = {};
    for (std::size_t k = 0; k < t; ++k) {
      const double a = cj[k];
      const double* row = panel + k * kColumnLanes;
      for (std::size_t l = 0; l < kBlock; ++l) acc[l] += a * row[l];
    }
    double* out = panel + t * kColumnLanes;
    for (std::size_t l = 0; l < kBlock; ++l) {
      const double e = (static_cast<double>(s[i + l]) - acc[l]) * inv_d;
      out[l] = e;
      d2[i + l] -= e * e;
    }
  }
}

std::size_t argmax(const double* w, const double* d2, std::size_t m, double* top) {
  double best = 0;
  for (std::size_t i = 0; i < m; ++i) {
    const double p = w[i] * d2[i];
    best = p > best ? p : best;
  }
  *top = best;
  if (!(best > 0)) return m;
  for (std::size_t i = 0; i < m; ++i)
    if (w[i] * d2[i] * kTieFactor >= best) return i;
  return m;
}

// The rare fallback of unit_rows(): no finite vector overflows double.
double sum_of_squares_double(const float* v, std::size_t dim) {
  double d = 0;
  for (std::size_t k = 0; k < dim; ++k) d += static_cast<double>(v[k]) * v[k];
  return d;
}

// Three passes (norms, inverse square roots, scaling), so that no row waits
// for the previous row's square root.
void unit_rows(const float* __restrict v, std::size_t n, std::size_t dim, float* __restrict out, std::size_t out_dim,
               double* __restrict norm2) {
  for (std::size_t i = 0; i < n; ++i) {
    const float* row = v + i * dim;
    float a[kDimLanes] = {};
    std::size_t k = 0;
    for (; k + kDimLanes <= dim; k += kDimLanes)
      for (std::size_t l = 0; l < kDimLanes; ++l) a[l] += row[k + l] * row[k + l];
    float f = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    for (; k < dim; ++k) f += row[k] * row[k];
    norm2[i] = std::isfinite(f) ? f : sum_of_squares_double(row, dim);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const double x = norm2[i];
    const float inv = x > 0 && std::isfinite(x) ? static_cast<float>(1 / std::sqrt(x)) : 0.0f;
    const float* row = v + i * dim;
    float* u = out + i * out_dim;
    for (std::size_t k = 0; k < dim; ++k) u[k] = row[k] * inv;
    for (std::size_t k = dim; k < out_dim; ++k) u[k] = 0.0f;
  }
}

}  // namespace

const DppLoops& generic_dpp_loops() {
  static const DppLoops loops{dots, cholesky_step, argmax, unit_rows, "generic"};
  return loops;
}

const DppLoops& best_dpp_loops() {
  static const DppLoops* best = avx2_dpp_loops() ? avx2_dpp_loops() : &generic_dpp_loops();
  return *best;
}

}  // namespace funnel::rerank::detail
