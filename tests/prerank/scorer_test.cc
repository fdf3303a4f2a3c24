// The serving scorer against a plain double-precision reference computed
// from the decoded store, for every matcher, precision and kernel set.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "funnel/error.h"
#include "funnel/fusion.h"
#include "funnel/prerank_scorer.h"
#include "test_util.h"
#include "util/rng.h"

namespace funnel {
namespace {

constexpr std::uint32_t kRows = 500, kDim = 37;  // odd dim exercises the kernels' tails

std::vector<float> randn(std::size_t n, std::uint64_t seed) {
  detail::Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(0.3 * rng.normal());
  return v;
}

// The matcher written straight from its definition, over the exact floats.
double reference(const std::vector<float>& q, std::uint32_t nq, const std::vector<float>& d, std::uint32_t nd,
                 Matcher m, double beta) {
  std::vector<double> cells;
  for (std::uint32_t i = 0; i < nq; ++i)
    for (std::uint32_t j = 0; j < nd; ++j) {
      double s = 0;
      for (std::uint32_t k = 0; k < kDim; ++k) s += double(q[i * kDim + k]) * double(d[j * kDim + k]);
      cells.push_back(s);
    }
  if (m == Matcher::kDot) return cells[0];
  double z = 0, s = 0;
  for (double c : cells) z += std::exp(beta * c);
  for (double c : cells) s += std::exp(beta * c) / z * c;
  return s;
}

struct Case {
  Matcher matcher;
  Precision precision;
  std::uint32_t nq, nd;
  bool portable;
};

class ScorerTest : public ::testing::TestWithParam<Case> {};

TEST_P(ScorerTest, MatchesTheReference) {
  const Case c = GetParam();
  test::TempDir tmp;
  auto docs = randn(std::size_t{kRows} * c.nd * kDim, 1);
  publish_store_version(tmp.path(), {"m", c.precision, c.nd, kDim}, docs, kRows);
  auto store = EmbeddingStore::open(tmp.path());
  PrerankScorer scorer(store, {c.matcher, 5.0f, c.portable, nullptr});
  auto q = randn(std::size_t{c.nq} * kDim, 2);
  std::vector<std::uint32_t> rows;
  for (std::uint32_t r = 0; r < kRows; r += 3) rows.push_back(r);
  std::vector<float> out(rows.size());
  scorer.score(q, c.nq, rows, out);

  std::vector<float> exact(rows.size()), decoded(rows.size());
  std::vector<float> row(std::size_t{c.nd} * kDim);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::vector<float> d(docs.begin() + rows[i] * c.nd * kDim, docs.begin() + (rows[i] + 1) * c.nd * kDim);
    exact[i] = static_cast<float>(reference(q, c.nq, d, c.nd, c.matcher, 5.0));
    store->decode_row(rows[i], row);
    decoded[i] = static_cast<float>(reference(q, c.nq, row, c.nd, c.matcher, 5.0));
    // Against the stored values, every precision is exact up to float error.
    ASSERT_NEAR(out[i], decoded[i], 1e-4) << "row " << rows[i];
  }
  if (c.precision == Precision::kFp32) {
    for (std::size_t i = 0; i < rows.size(); ++i) ASSERT_NEAR(out[i], exact[i], 1e-4);
  } else {
    // Lossy storage keeps the top of the order: of the exact top 20, at
    // least 18 (fp16) / 16 (int8) stay in the scorer's top 20.
    auto a = top_n(rows, exact, 20), b = top_n(rows, out, 20);
    std::set<std::uint32_t> sa, sb;
    for (auto& p : a) sa.insert(p.first);
    int common = 0;
    for (auto& p : b) common += sa.count(p.first);
    EXPECT_GE(common, c.precision == Precision::kFp16 ? 19 : 16);
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> v;
  for (bool portable : {false, true})
    for (Precision p : {Precision::kFp32, Precision::kFp16, Precision::kInt8}) {
      v.push_back({Matcher::kDot, p, 1, 1, portable});
      v.push_back({Matcher::kSoftAttention, p, 3, 3, portable});
      v.push_back({Matcher::kSoftAttention, p, 2, 1, portable});
    }
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, ScorerTest, ::testing::ValuesIn(all_cases()), [](const auto& info) {
  const Case& c = info.param;
  return matcher_name(c.matcher) + "_" + precision_name(c.precision) + "_" + std::to_string(c.nq) + "x" +
         std::to_string(c.nd) + (c.portable ? "_portable" : "_best");
});

TEST(Scorer, SoftAttentionWithOneCellIsTheDot) {
  test::TempDir tmp;
  auto docs = randn(10 * kDim, 3);
  publish_store_version(tmp.path(), {"m", Precision::kFp32, 1, kDim}, docs, 10);
  auto store = EmbeddingStore::open(tmp.path());
  auto q = randn(kDim, 4);
  std::vector<std::uint32_t> rows{0, 5, 9};
  std::vector<float> a(3), b(3);
  PrerankScorer(store, {Matcher::kDot, 5.0f, false, nullptr}).score(q, 1, rows, a);
  PrerankScorer(store, {Matcher::kSoftAttention, 5.0f, false, nullptr}).score(q, 1, rows, b);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(a[i], b[i], 1e-6);
}

TEST(Scorer, RejectsMisfits) {
  test::TempDir tmp;
  auto docs = randn(10 * 2 * kDim, 3);
  publish_store_version(tmp.path(), {"m", Precision::kFp32, 2, kDim}, docs, 10);
  auto store = EmbeddingStore::open(tmp.path());
  EXPECT_THROW(PrerankScorer(store, {Matcher::kDot, 5.0f, false, nullptr}), Error);
  PrerankScorer s(store, {Matcher::kSoftAttention, 5.0f, false, nullptr});
  std::vector<float> out(1);
  std::vector<std::uint32_t> bad_row{10};
  EXPECT_THROW(s.score(randn(kDim, 1), 1, bad_row, out), Error);
  std::vector<std::uint32_t> row{0};
  EXPECT_THROW(s.score(randn(kDim + 1, 1), 1, row, out), Error);
  EXPECT_EQ(s.flops_per_pair(3), 2u * 3 * 2 * kDim + 5 * 3 * 2);
}

}  // namespace
}  // namespace funnel
