// RM3 term weights against a hand computation.
#include "recall/rm3.h"

#include <gtest/gtest.h>

namespace funnel::recall {
namespace {

// d1: score 3, length 4, a x2, b, c; d2: score 1, length 2, a, d. c is in
// half the collection's docs (left out), the others in 5%.
std::vector<FeedbackDoc> docs() {
  return {{3, 4, {{"a", 2}, {"b", 1}, {"c", 1}}}, {1, 2, {{"a", 1}, {"d", 1}}}};
}
double share(const std::string& t) { return t == "c" ? 0.5 : 0.05; }

TEST(Rm3, ExpansionWeightsByHand) {
  // P(a) = 2/4 * 3/4 + 1/2 * 1/4 = 0.5; P(b) = 1/4 * 3/4 = 0.1875;
  // P(d) = 1/2 * 1/4 = 0.125; c is too common. Two terms: a, b renormalised.
  const auto e = rm3_expansion(docs(), 2, share);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].term, "a");
  EXPECT_NEAR(e[0].weight, 0.5 / 0.6875, 1e-12);
  EXPECT_EQ(e[1].term, "b");
  EXPECT_NEAR(e[1].weight, 0.1875 / 0.6875, 1e-12);
  const auto all = rm3_expansion(docs(), 10, share);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].term, "d");
  EXPECT_NEAR(all[2].weight, 0.125 / 0.8125, 1e-12);
}

TEST(Rm3, NothingToExpandFrom) {
  EXPECT_TRUE(rm3_expansion({}, 10, share).empty());
  EXPECT_TRUE(rm3_expansion(docs(), 0, share).empty());
  EXPECT_TRUE(rm3_expansion({{0, 4, {{"a", 1}}}}, 10, share).empty());  // no score
  EXPECT_TRUE(rm3_expansion(docs(), 10, [](const std::string&) { return 0.5; }).empty());  // all too common
}

TEST(Rm3, TiesGoToTheSmallerTerm) {
  const auto e = rm3_expansion({{1, 2, {{"z", 1}, {"y", 1}}}}, 1, share);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].term, "y");
  EXPECT_EQ(e[0].weight, 1.0);
}

TEST(Rm3, MixInterpolatesQueryAndExpansion) {
  // Query [a, x, a], weight 0.6: a = 0.6 * 2/3 + 0.4 * 0.5/0.6875,
  // x = 0.6 * 1/3, b = 0.4 * 0.1875/0.6875.
  const auto m = rm3_mix({"a", "x", "a"}, rm3_expansion(docs(), 2, share), 0.6);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].term, "a");
  EXPECT_NEAR(m[0].weight, 0.4 + 0.4 * 0.5 / 0.6875, 1e-12);
  EXPECT_EQ(m[1].term, "x");
  EXPECT_NEAR(m[1].weight, 0.2, 1e-12);
  EXPECT_EQ(m[2].term, "b");
  EXPECT_NEAR(m[2].weight, 0.4 * 0.1875 / 0.6875, 1e-12);
  EXPECT_NEAR(m[0].weight + m[1].weight + m[2].weight, 1.0, 1e-12);
  // Weight 1: the query alone (expansion terms at 0).
  const auto q = rm3_mix({"a", "x"}, rm3_expansion(docs(), 2, share), 1.0);
  EXPECT_EQ(q[0].weight, 0.5 + 0.0 * 0.5 / 0.6875);
  EXPECT_EQ(q[2].weight, 0.0);
}

}  // namespace
}  // namespace funnel::recall
