#include "fusion/formulas.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "funnel/error.h"

namespace funnel::fusion {

void weighted_sum(std::span<const float> x, std::size_t m, std::span<const double> w, std::span<double> out) {
  const std::size_t n = out.size();
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0;
    for (std::size_t j = 0; j < m; ++j) s += w[j] * x[i * m + j];
    out[i] = s;
  }
}

void product_of_powers(std::span<const float> x, std::size_t m, std::span<const double> w,
                       std::span<const double> a, std::span<double> out, double floor) {
  const std::size_t n = out.size();
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0;
    for (std::size_t j = 0; j < m; ++j) s += w[j] * std::log(std::max(floor, a[j] + x[i * m + j]));
    out[i] = s;
  }
}

RankTransform parse_rank_transform(const std::string& s, const std::string& where) {
  if (s == "reciprocal") return RankTransform::kReciprocal;
  if (s == "normalised" || s == "normalized") return RankTransform::kNormalised;
  throw Error(where + ": expected 'reciprocal' or 'normalised', got '" + s + "'");
}

void ensemble_sort(std::span<const float> x, std::size_t m, std::span<const double> w, RankTransform transform,
                   double k, std::span<double> out) {
  const std::size_t n = out.size();
  std::fill(out.begin(), out.end(), 0.0);
  std::vector<std::size_t> order(n);
  for (std::size_t j = 0; j < m; ++j) {
    if (w[j] == 0) continue;
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a * m + j] > x[b * m + j]; });
    std::size_t rank = 0;
    for (std::size_t r = 0; r < n; ++r) {
      if (r > 0 && x[order[r] * m + j] != x[order[r - 1] * m + j]) rank = r;
      const double v = transform == RankTransform::kReciprocal ? 1.0 / (static_cast<double>(rank) + k)
                                                               : 1.0 - static_cast<double>(rank) / static_cast<double>(n);
      out[order[r]] += w[j] * v;
    }
  }
}

}  // namespace funnel::fusion
