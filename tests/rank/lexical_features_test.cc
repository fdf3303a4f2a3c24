// Lexical features against hand computations.
#include "rank/lexical_features.h"

#include <gtest/gtest.h>

#include <cmath>

#include "text/analysis.h"

namespace funnel::rank {
namespace {

// Terms at positions 1, 2, ... from space-separated words.
std::vector<text::Term> doc(const std::vector<std::string>& words) {
  std::vector<text::Term> out;
  for (std::size_t i = 0; i < words.size(); ++i) out.push_back({words[i], static_cast<std::uint32_t>(i + 1), false});
  return out;
}

TEST(MinWindow, UnorderedByHand) {
  //            1  2  3  4  5  6  7  8
  const auto d = doc({"a", "x", "b", "x", "x", "c", "a", "b"});
  // {a, b}: "a x b" (3) at 1..3, "b x x c a" no, "a b" at 7..8 (2).
  EXPECT_EQ(min_window_unordered(d, {"a", "b"}), 2.0);
  EXPECT_EQ(min_window_unordered(d, {"b", "a"}), 2.0);
  // {a, b, c}: "c a b" at 6..8 (3).
  EXPECT_EQ(min_window_unordered(d, {"a", "b", "c"}), 3.0);
  // A term the doc lacks is ignored; repeated query terms count once.
  EXPECT_EQ(min_window_unordered(d, {"a", "zzz", "c", "a"}), 2.0);  // "c a" at 6..7
  EXPECT_TRUE(std::isnan(min_window_unordered(d, {"a"})));
  EXPECT_TRUE(std::isnan(min_window_unordered(d, {"a", "zzz"})));
  EXPECT_TRUE(std::isnan(min_window_unordered({}, {"a", "b"})));
}

TEST(MinWindow, OrderedByHand) {
  //            1  2  3  4  5  6  7  8
  const auto d = doc({"a", "x", "b", "x", "x", "c", "a", "b"});
  EXPECT_EQ(min_window_ordered(d, {"a", "b"}), 2.0);        // 7..8
  EXPECT_EQ(min_window_ordered(d, {"b", "a"}), 5.0);        // b at 3, a at 7
  EXPECT_EQ(min_window_ordered(d, {"a", "b", "c"}), 6.0);   // 1, 3, 6
  EXPECT_EQ(min_window_ordered(d, {"c", "a", "b"}), 3.0);   // 6, 7, 8
  // Never in that order: no "x" after the only "c" (6).
  EXPECT_TRUE(std::isnan(min_window_ordered(d, {"c", "x"})));
  EXPECT_TRUE(std::isnan(min_window_ordered(d, {"c", "x", "b", "a"})));
  EXPECT_EQ(min_window_ordered(d, {"x", "c", "zzz", "a"}), 3.0);  // x@5, c@6, a@7
  EXPECT_TRUE(std::isnan(min_window_ordered(d, {"b"})));
}

TEST(MinWindow, SharedPositionsOfCjkNgrams) {
  // "转氨酶": 转@1 转氨@1 氨@2 氨酶@2 酶@3 (unigrams and bigrams).
  const std::vector<text::Term> d = {{"转", 1}, {"转氨", 1}, {"氨", 2}, {"氨酶", 2}, {"酶", 3}};
  EXPECT_EQ(min_window_unordered(d, {"转氨", "酶"}), 3.0);
  EXPECT_EQ(min_window_unordered(d, {"转", "转氨"}), 1.0);  // one position holds both
  EXPECT_EQ(min_window_ordered(d, {"转氨", "氨酶"}), 2.0);
  EXPECT_TRUE(std::isnan(min_window_ordered(d, {"转氨", "转"})));  // needs a later position
}

TEST(QueryIdf, ByHand) {
  // N = 1000: rare means df <= 10. dfs 1, 10, 500, 0.
  const auto s = query_idf_stats({1, 10, 500, 0}, 1000);
  const double i1 = std::log(999.5 / 1.5), i10 = std::log(990.5 / 10.5), i0 = std::log(1000.5 / 0.5);
  // df 500: t = 500.5 / 500.5 = 1 < 2, so t / 2 + 1 = 1.5.
  const double i500 = std::log(1.5);
  EXPECT_NEAR(s.sum, i1 + i10 + i500 + i0, 1e-12);
  EXPECT_NEAR(s.max, i0, 1e-12);
  EXPECT_DOUBLE_EQ(s.rare_share, 0.75);
  EXPECT_NEAR(text::bm25_idf(1000, 500), i500, 1e-12);
  // Small collections: at least one doc's worth is rare.
  EXPECT_DOUBLE_EQ(query_idf_stats({1, 2}, 30).rare_share, 0.5);
  const auto none = query_idf_stats({}, 1000);
  EXPECT_EQ(none.sum, 0);
  EXPECT_EQ(none.max, 0);
  EXPECT_EQ(none.rare_share, 0);
}

TEST(PrfAgreement, ByHand) {
  const std::vector<recall::WeightedTerm> e = {{"a", 0.5}, {"b", 0.3}, {"c", 0.2}};
  EXPECT_DOUBLE_EQ(prf_agreement(e, doc({"c", "x", "a"})), 0.7);
  EXPECT_DOUBLE_EQ(prf_agreement(e, doc({"a", "b", "c"})), 1.0);
  EXPECT_DOUBLE_EQ(prf_agreement(e, doc({"x"})), 0.0);
  EXPECT_DOUBLE_EQ(prf_agreement({}, doc({"a"})), 0.0);
}

}  // namespace
}  // namespace funnel::rank
