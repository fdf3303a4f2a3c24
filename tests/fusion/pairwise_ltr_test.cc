// The pairwise learned linear fusion (fusion/pairwise_ltr.h): the weights
// follow the weighted objectives, order held-out pairs, do not depend on a
// feature's scale, ignore groups without pairs, match a hand-solved case,
// round-trip through JSON, and bad input is refused naming the field.
#include "fusion/pairwise_ltr.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "funnel/error.h"
#include "test_util.h"

namespace funnel::fusion {
namespace {

using test::contains;
using test::error_of;

// Groups of rows with 4 features: x0, x1, x2 ~ N(0, 1) and x3 = 5
// (constant); objective 0 (a click, 0/1) is driven by x0, objective 1 (a
// watch fraction in (0, 1)) by x1.
struct LtrSet {
  std::vector<float> x, outcomes;
  std::vector<std::uint32_t> groups;
  std::size_t rows = 0, cols = 4, objectives = 2;
  LtrData data() const { return {x, rows, cols, groups, outcomes, objectives}; }
  void add_row(std::uint32_t group, std::vector<float> features, float click, float watch) {
    x.insert(x.end(), features.begin(), features.end());
    outcomes.push_back(click);
    outcomes.push_back(watch);
    groups.push_back(group);
    ++rows;
  }
};

LtrSet make_set(std::uint32_t n_groups, std::uint32_t per_group, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0, 1);
  LtrSet s;
  for (std::uint32_t q = 0; q < n_groups; ++q)
    for (std::uint32_t i = 0; i < per_group; ++i) {
      const float x0 = g(rng), x1 = g(rng), x2 = g(rng);
      const float click = x0 + 0.5f * g(rng) > 0.5f ? 1.0f : 0.0f;
      const float watch = 1 / (1 + std::exp(-(1.5f * x1 + 0.5f * g(rng))));
      s.add_row(1000 + q, {x0, x1, x2, 5.0f}, click, watch);
    }
  return s;
}

LtrModel fit(const LtrSet& s, std::vector<double> objective_weights) {
  LtrOptions o;
  o.objective_weights = std::move(objective_weights);
  return train_pairwise_ltr(s.data(), o);
}

std::vector<double> scores(const LtrModel& m, const LtrSet& s) {
  std::vector<double> out;
  for (std::size_t r = 0; r < s.rows; ++r)
    out.push_back(ltr_score(m, std::span<const float>(s.x).subspan(r * s.cols, s.cols)));
  return out;
}

// Share of the pairs of objective `obj` (same group, different outcomes)
// that the model orders like the outcome.
double pair_accuracy(const LtrModel& m, const LtrSet& s, std::size_t obj) {
  const auto sc = scores(m, s);
  double right = 0, all = 0;
  for (std::size_t i = 0; i < s.rows; ++i)
    for (std::size_t j = 0; j < s.rows; ++j)
      if (s.groups[i] == s.groups[j] && s.outcomes[i * 2 + obj] > s.outcomes[j * 2 + obj]) {
        ++all;
        right += sc[i] > sc[j] ? 1 : 0;
      }
  return right / all;
}

TEST(PairwiseLtr, WeightsFollowTheWeightedObjectives) {
  const LtrSet train = make_set(150, 10, 1), test = make_set(100, 10, 2);
  const LtrModel click = fit(train, {1, 0}), watch = fit(train, {0, 1}), both = fit(train, {1, 1});
  const auto& wc = click.weights;
  ASSERT_EQ(wc.size(), 4u);
  EXPECT_GT(wc[0], 5 * std::abs(wc[1]));
  EXPECT_GT(wc[0], 5 * std::abs(wc[2]));
  const auto& ww = watch.weights;
  EXPECT_GT(ww[1], 5 * std::abs(ww[0]));
  EXPECT_GT(ww[1], 5 * std::abs(ww[2]));
  const auto& wb = both.weights;
  EXPECT_GT(wb[0], 0);
  EXPECT_GT(wb[1], 0);
  EXPECT_GT(wb[0] / wb[1], 0.25);
  EXPECT_LT(wb[0] / wb[1], 4);
  EXPECT_GT(wb[0], 3 * std::abs(wb[2]));
  EXPECT_GT(wb[1], 3 * std::abs(wb[2]));
  // The constant column: scale 0, weight 0.
  for (const LtrModel* m : {&click, &watch, &both}) {
    EXPECT_EQ(m->weights[3], 0.0);
    EXPECT_EQ(m->scale[3], 0.0);
    EXPECT_EQ(m->mean[3], 5.0);
  }

  // Held-out pairs.
  EXPECT_GT(pair_accuracy(click, test, 0), 0.8);
  EXPECT_GT(pair_accuracy(watch, test, 1), 0.8);
  EXPECT_LT(pair_accuracy(click, test, 1), 0.6);  // it knows nothing of x1
  EXPECT_GT(pair_accuracy(both, test, 0), 0.7);
  EXPECT_GT(pair_accuracy(both, test, 1), 0.7);
}

TEST(PairwiseLtr, MatchesAHandSolvedCase) {
  // One group of two rows, one feature: x = (1, 0), click = (1, 0). z =
  // (1, -1) (mean 0.5, scale 0.5), so L(v) = log(1 + exp(-2 v)) + l2 v^2,
  // minimal where -2 / (1 + exp(2 v)) + 2 l2 v = 0; w = v / 0.5.
  LtrSet s;
  s.cols = 1;
  s.objectives = 1;
  s.x = {1, 0};
  s.outcomes = {1, 0};
  s.groups = {7, 7};
  s.rows = 2;
  LtrOptions o;
  o.objective_weights = {1};
  o.l2 = 0.1;
  std::vector<double> losses;
  const LtrModel m = train_pairwise_ltr(s.data(), o, [&](int it, double loss) {
    EXPECT_EQ(it, static_cast<int>(losses.size()) + 1);
    losses.push_back(loss);
  });
  double lo = 0, hi = 10;  // bisection on the derivative
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (-2 / (1 + std::exp(2 * mid)) + 2 * 0.1 * mid < 0 ? lo : hi) = mid;
  }
  EXPECT_NEAR(m.weights[0], lo / 0.5, 1e-6);
  EXPECT_EQ(m.mean[0], 0.5);
  EXPECT_EQ(m.scale[0], 0.5);
  ASSERT_FALSE(losses.empty());
  for (std::size_t i = 1; i < losses.size(); ++i) EXPECT_LE(losses[i], losses[i - 1]);
  EXPECT_NEAR(losses.back(), std::log1p(std::exp(-2 * lo)) + 0.1 * lo * lo, 1e-9);
  // The score is on raw features: the dropped offset does not matter.
  EXPECT_DOUBLE_EQ(ltr_score(m, std::vector<float>{2}), 2 * m.weights[0]);
}

TEST(PairwiseLtr, ScaleOfAFeatureDoesNotChangeTheOrder) {
  const LtrSet train = make_set(100, 10, 3), test = make_set(50, 10, 4);
  LtrSet train100 = train, test100 = test;
  for (std::size_t r = 0; r < train.rows; ++r) train100.x[r * 4] *= 100;
  for (std::size_t r = 0; r < test.rows; ++r) test100.x[r * 4] *= 100;
  const LtrModel a = fit(train, {1, 1}), b = fit(train100, {1, 1});
  EXPECT_NEAR(b.weights[0] * 100, a.weights[0], 1e-6 * std::abs(a.weights[0]));
  EXPECT_NEAR(b.weights[1], a.weights[1], 1e-6 * std::abs(a.weights[1]));
  const auto sa = scores(a, test), sb = scores(b, test100);
  for (std::size_t i = 0; i < test.rows; ++i)
    for (std::size_t j = 0; j < test.rows; ++j)
      if (test.groups[i] == test.groups[j]) {
        ASSERT_EQ(sa[i] > sa[j], sb[i] > sb[j]) << i << " " << j;
      }
}

TEST(PairwiseLtr, GroupsWithoutPairsContributeNothing) {
  const LtrSet base = make_set(60, 8, 5);
  LtrSet more = base;
  std::mt19937 rng(6);
  std::normal_distribution<float> g(0, 10);
  for (int i = 0; i < 12; ++i) more.add_row(1, {g(rng), g(rng), g(rng), 5.0f}, 1.0f, 0.25f);  // all equal
  // Clicks all equal, watch fractions not: a group for objective 1 only.
  for (int i = 0; i < 5; ++i) more.add_row(2, {g(rng), g(rng), g(rng), 5.0f}, 0.0f, 0.1f * i);
  for (const std::vector<double>& w : {std::vector<double>{1, 0}}) {
    const LtrModel a = fit(base, w), b = fit(more, w);
    EXPECT_EQ(a.weights, b.weights);
    EXPECT_EQ(a.mean, b.mean);
    EXPECT_EQ(a.scale, b.scale);
  }
  // With objective 1 weighted, group 2 does count.
  EXPECT_NE(fit(base, {1, 1}).weights, fit(more, {1, 1}).weights);
}

TEST(PairwiseLtr, IsDeterministic) {
  const LtrSet s = make_set(40, 6, 7);
  EXPECT_EQ(fit(s, {1, 0.5}).weights, fit(s, {1, 0.5}).weights);
}

TEST(PairwiseLtr, RefusesBadInputNamingTheField) {
  const LtrSet s = make_set(5, 4, 8);
  auto err = [&](const LtrData& d, std::vector<double> w, auto change) {
    LtrOptions o;
    o.objective_weights = std::move(w);
    change(o);
    return error_of([&] { train_pairwise_ltr(d, o); });
  };
  auto same = [](LtrOptions&) {};
  LtrData d = s.data();
  d.rows = 19;
  EXPECT_TRUE(contains(err(d, {1, 1}, same), "LtrData.x: has 80 values, expected rows x cols = 19 x 4"));
  d = s.data();
  d.groups = d.groups.first(5);
  EXPECT_TRUE(contains(err(d, {1, 1}, same), "LtrData.groups: has 5 values"));
  d = s.data();
  d.outcomes = d.outcomes.first(39);
  EXPECT_TRUE(contains(err(d, {1, 1}, same), "LtrData.outcomes: has 39 values"));
  d = s.data();
  d.objectives = 3;
  EXPECT_TRUE(contains(err(d, {1, 1, 1}, same), "LtrData.outcomes"));
  EXPECT_TRUE(contains(err(s.data(), {1}, same),
                       "LtrOptions.objective_weights: has 1 weights, expected one per objective (2)"));
  EXPECT_TRUE(contains(err(s.data(), {0, 0}, same), "every weight is 0"));
  EXPECT_TRUE(contains(err(s.data(), {1, -1}, same), "LtrOptions.objective_weights[1]"));
  EXPECT_TRUE(contains(err(s.data(), {1, NAN}, same), "LtrOptions.objective_weights[1]"));
  EXPECT_TRUE(contains(err(s.data(), {1, 1}, [](LtrOptions& o) { o.l2 = -1; }), "LtrOptions.l2"));
  EXPECT_TRUE(contains(err(s.data(), {1, 1}, [](LtrOptions& o) { o.epochs = 0; }), "LtrOptions.epochs"));
  EXPECT_TRUE(contains(err(s.data(), {1, 1}, [](LtrOptions& o) { o.learning_rate = 0; }), "LtrOptions.learning_rate"));

  LtrSet bad = s;
  bad.groups[17] = 1000;  // group 1000 again after 1001..1003
  EXPECT_TRUE(contains(err(bad.data(), {1, 1}, same), "group 1000 appears again at row 17"));
  bad = s;
  bad.x[6 * 4 + 2] = NAN;
  EXPECT_TRUE(contains(err(bad.data(), {1, 1}, same), "LtrData.x: row 6, column 2: not a finite number"));
  bad = s;
  bad.outcomes[3 * 2 + 1] = INFINITY;
  EXPECT_TRUE(contains(err(bad.data(), {1, 1}, same), "LtrData.outcomes: row 3, objective 1"));
  bad = s;
  for (std::size_t r = 0; r < bad.rows; ++r) bad.outcomes[r * 2] = 1;  // no click pair anywhere
  EXPECT_TRUE(contains(err(bad.data(), {1, 0}, same), "no training pair"));
  EXPECT_TRUE(contains(error_of([&] { ltr_score(fit(s, {1, 1}), std::vector<float>(3)); }), "ltr_score"));
}

TEST(PairwiseLtr, JsonRoundTripIsExactAndStrict) {
  const LtrModel m = fit(make_set(30, 5, 9), {1, 1});
  const nlohmann::json j = nlohmann::json::parse(ltr_to_json(m).dump());
  const LtrModel back = ltr_from_json(j, "fusion.json: field 'ltr'");
  EXPECT_EQ(back.weights, m.weights);
  EXPECT_EQ(back.mean, m.mean);
  EXPECT_EQ(back.scale, m.scale);

  auto err = [&](auto change) {
    nlohmann::json bad = j;
    change(bad);
    return error_of([&] { ltr_from_json(bad, "F"); });
  };
  using J = nlohmann::json;
  EXPECT_TRUE(contains(err([](J& b) { b.erase("weights"); }), "F: field 'weights': missing"));
  EXPECT_TRUE(contains(err([](J& b) { b["extra"] = 1; }), "F: unknown field 'extra'"));
  EXPECT_TRUE(contains(err([](J& b) { b["format"] = "x"; }), "F: field 'format'"));
  EXPECT_TRUE(contains(err([](J& b) { b["version"] = 2; }), "F: field 'version'"));
  EXPECT_TRUE(contains(err([](J& b) { b["mean"][1] = "a"; }), "F: field 'mean[1]'"));
  EXPECT_TRUE(contains(err([](J& b) { b["mean"][1] = nullptr; }), "F: field 'mean[1]'"));
  EXPECT_TRUE(contains(err([](J& b) { b["scale"][0] = -1; }), "F: field 'scale[0]'"));
  EXPECT_TRUE(contains(err([](J& b) { b["scale"].erase(0); }), "expected one number per feature"));
  EXPECT_TRUE(contains(err([](J& b) { b["weights"] = J::array(); }), "F: field 'weights'"));
  EXPECT_TRUE(contains(err([](J& b) { b = J::array(); }), "F: expected an object"));
}

}  // namespace
}  // namespace funnel::fusion
