// The Cross-Entropy Method on rewards whose optimum is known.
#include <gtest/gtest.h>

#include <cmath>

#include "funnel/error.h"
#include "tune/cem.h"
#include "util/rng.h"

namespace funnel::tune {
namespace {

// -(x - opt)' A (x - opt), A diagonal with different curvatures.
double quadratic(const std::vector<double>& x) {
  const double opt[3] = {1.5, -2.0, 0.25}, a[3] = {1.0, 4.0, 0.5};
  double r = 0;
  for (int k = 0; k < 3; ++k) r -= a[k] * (x[k] - opt[k]) * (x[k] - opt[k]);
  return r;
}

TEST(Cem, ConvergesToTheOptimumOfAQuadratic) {
  CemOptions o;
  o.rounds = 40;
  o.candidates = 20;
  o.elite = 5;
  o.noise_floor = 0.05;
  const auto res = cem_maximise({0, 0, 0}, {1, 1, 1},
                                [](const auto& cand) {
                                  std::vector<double> r;
                                  for (const auto& c : cand) r.push_back(quadratic(c));
                                  return r;
                                },
                                o);
  EXPECT_NEAR(res.mean[0], 1.5, 0.1);
  EXPECT_NEAR(res.mean[1], -2.0, 0.1);
  EXPECT_NEAR(res.mean[2], 0.25, 0.15);
  ASSERT_EQ(res.rounds.size(), 40u);
  EXPECT_GT(res.rounds.back().reward_mean, res.rounds.front().reward_mean);
}

TEST(Cem, ConvergesUnderNoiseToo) {
  CemOptions o;
  o.rounds = 40;
  o.candidates = 24;
  o.elite = 6;
  o.noise_floor = 0.02;
  detail::Rng noise(3);
  const auto res = cem_maximise({0, 0, 0}, {1, 1, 1},
                                [&](const auto& cand) {
                                  std::vector<double> r;
                                  for (const auto& c : cand) r.push_back(quadratic(c) + 0.2 * noise.normal());
                                  return r;
                                },
                                o);
  EXPECT_GT(quadratic(res.mean), -0.1);  // the start scores -(2.25 + 16 + 0.03) = -18.3
}

TEST(Cem, BadOptionsAreErrors) {
  auto eval = [](const auto& cand) { return std::vector<double>(cand.size(), 0.0); };
  CemOptions o;
  o.elite = 0;
  EXPECT_THROW(cem_maximise({0}, {1}, eval, o), Error);
  o = CemOptions{};
  o.elite = 20;
  EXPECT_THROW(cem_maximise({0}, {1}, eval, o), Error);
  EXPECT_THROW(cem_maximise({0}, {0}, eval, CemOptions{}), Error);
  EXPECT_THROW(cem_maximise({0, 1}, {1}, eval, CemOptions{}), Error);
  EXPECT_THROW(cem_maximise({0}, {1}, [](const auto&) { return std::vector<double>{1.0}; }, CemOptions{}), Error);
  EXPECT_THROW(cem_maximise({0}, {1}, [](const auto& c) { return std::vector<double>(c.size(), NAN); }, CemOptions{}),
               Error);
}

}  // namespace
}  // namespace funnel::tune
