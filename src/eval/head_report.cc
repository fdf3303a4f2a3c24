#include <cmath>

#include "funnel/embedding_store.h"
#include "funnel/error.h"

namespace funnel {

std::vector<double> mean_head_cosine(std::span<const float> vecs, std::size_t n, std::uint32_t heads,
                                     std::uint32_t dim) {
  if (vecs.size() != n * heads * dim) throw Error("mean_head_cosine: expected n x heads x dim floats");
  std::vector<double> m(std::size_t{heads} * heads, 0.0);
  if (n == 0) return m;
  std::vector<double> norm(heads);
  for (std::size_t r = 0; r < n; ++r) {
    const float* v = vecs.data() + r * heads * dim;
    for (std::uint32_t i = 0; i < heads; ++i) {
      double s = 0;
      for (std::uint32_t k = 0; k < dim; ++k) s += static_cast<double>(v[i * dim + k]) * v[i * dim + k];
      norm[i] = std::sqrt(s);
    }
    for (std::uint32_t i = 0; i < heads; ++i)
      for (std::uint32_t j = 0; j < heads; ++j) {
        double s = 0;
        for (std::uint32_t k = 0; k < dim; ++k) s += static_cast<double>(v[i * dim + k]) * v[j * dim + k];
        const double d = norm[i] * norm[j];
        m[i * heads + j] += d > 0 ? s / d : 0.0;
      }
  }
  for (auto& x : m) x /= static_cast<double>(n);
  return m;
}

}  // namespace funnel
