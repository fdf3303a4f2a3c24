// The fusion formulas: weighted sum, product of powers, ensemble sort.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "funnel/error.h"
#include "fusion/formulas.h"
#include "util/rng.h"

namespace funnel::fusion {
namespace {

std::vector<std::size_t> order_of(const std::vector<double>& s) {
  std::vector<std::size_t> o(s.size());
  std::iota(o.begin(), o.end(), std::size_t{0});
  std::stable_sort(o.begin(), o.end(), [&](std::size_t a, std::size_t b) { return s[a] > s[b]; });
  return o;
}

TEST(Formulas, WeightedSumAndProduct) {
  const std::vector<float> x = {1, 0.5f, 2, 0.25f};  // 2 candidates x 2 inputs
  std::vector<double> out(2);
  weighted_sum(x, 2, std::vector<double>{1, 2}, out);
  EXPECT_DOUBLE_EQ(out[0], 2.0);
  EXPECT_DOUBLE_EQ(out[1], 2.5);
  product_of_powers(x, 2, std::vector<double>{1, 2}, std::vector<double>{0, 0}, out);
  EXPECT_NEAR(std::exp(out[0]), 1 * 0.25, 1e-12);
  EXPECT_NEAR(std::exp(out[1]), 2 * 0.0625, 1e-12);
  // Offsets shift the factors; a factor <= 0 counts as the floor.
  product_of_powers(std::vector<float>{-1, 0}, 2, std::vector<double>{1, 1}, std::vector<double>{0.5, 0.1}, out = std::vector<double>(1), 1e-3);
  EXPECT_NEAR(out[0], std::log(1e-3) + std::log(0.1), 1e-12);
}

TEST(Formulas, EnsembleSortIsInvariantToAnyMonotoneRescalingOfAnInput) {
  detail::Rng rng(4);
  const std::size_t n = 60, m = 3;
  std::vector<float> x(n * m);
  for (auto& v : x) v = static_cast<float>(rng.uniform());
  const std::vector<double> w = {1.0, 0.5, 2.0};
  for (auto transform : {RankTransform::kReciprocal, RankTransform::kNormalised}) {
    std::vector<double> a(n), b(n);
    ensemble_sort(x, m, w, transform, 60, a);
    std::vector<float> y = x;
    for (std::size_t i = 0; i < n; ++i) {
      y[i * m + 0] = std::exp(10 * y[i * m + 0]) - 3;   // exp
      y[i * m + 2] = 1000 * y[i * m + 2] * y[i * m + 2] * y[i * m + 2] + 7;  // cube
    }
    ensemble_sort(y, m, w, transform, 60, b);
    for (std::size_t i = 0; i < n; ++i) EXPECT_DOUBLE_EQ(a[i], b[i]);
    // A weighted sum is not invariant: the rescaled inputs change its order.
    std::vector<double> sa(n), sb(n);
    weighted_sum(x, m, w, sa);
    weighted_sum(y, m, w, sb);
    EXPECT_NE(order_of(sa), order_of(sb));
  }
}

TEST(Formulas, EnsembleSortRanksAndTies) {
  // One input: values 3, 1, 3, 2 -> ranks 0, 3, 0, 2 (ties share the best).
  const std::vector<float> x = {3, 1, 3, 2};
  std::vector<double> out(4);
  ensemble_sort(x, 1, std::vector<double>{1}, RankTransform::kReciprocal, 1, out);
  EXPECT_DOUBLE_EQ(out[0], 1.0);
  EXPECT_DOUBLE_EQ(out[2], 1.0);
  EXPECT_DOUBLE_EQ(out[3], 1.0 / 3);
  EXPECT_DOUBLE_EQ(out[1], 1.0 / 4);
  ensemble_sort(x, 1, std::vector<double>{2}, RankTransform::kNormalised, 0, out);
  EXPECT_DOUBLE_EQ(out[0], 2.0);
  EXPECT_DOUBLE_EQ(out[1], 2 * (1 - 3.0 / 4));
  EXPECT_THROW(parse_rank_transform("log", "cfg"), Error);
}

}  // namespace
}  // namespace funnel::fusion
