// The cross ranker's pair input: query, title + tags and body with
// separators, each within its budget of max_len.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "rank/rank_inputs.h"

namespace funnel::rank {
namespace {

TEST(PairTokens, QueryTitleBodyWithSeparatorsAndBudgets) {
  using V = std::vector<std::int64_t>;
  const V q = {10, 11, 12, 13, 14}, t = {20, 21, 22, 23, 24, 25}, b = {30, 31, 32, 33, 34, 35, 36, 37, 38, 39};
  EXPECT_EQ(kSepId, 2);
  // max_len 12: query cut at 12/4 = 3, title at 12/3 = 4, body fills the rest.
  EXPECT_EQ(pair_tokens(q, t, b, 12), (V{1, 10, 11, 12, 2, 20, 21, 22, 23, 2, 30, 31}));
  // Short pieces are kept whole; the body takes what is left.
  EXPECT_EQ(pair_tokens({10}, {20}, b, 8), (V{1, 10, 2, 20, 2, 30, 31, 32}));
  // Everything fits: no cut, no padding.
  EXPECT_EQ(pair_tokens({10, 11}, {20, 21}, {30}, 64), (V{1, 10, 11, 2, 20, 21, 2, 30}));
  // Empty body: ends with the second [SEP].
  EXPECT_EQ(pair_tokens(q, t, {}, 12), (V{1, 10, 11, 12, 2, 20, 21, 22, 23, 2}));
  // Empty query and title: the separators stay.
  EXPECT_EQ(pair_tokens({}, {}, {30, 31}, 12), (V{1, 2, 2, 30, 31}));
  // A long body never crowds out the query and title.
  V long_body(100, 7);
  auto s = pair_tokens(q, t, long_body, 24);  // query 6, title 8
  ASSERT_EQ(s.size(), 24u);
  EXPECT_EQ(V(s.begin(), s.begin() + 7), (V{1, 10, 11, 12, 13, 14, 2}));
  EXPECT_EQ(V(s.begin() + 7, s.begin() + 14), (V{20, 21, 22, 23, 24, 25, 2}));
  for (std::size_t i = 14; i < 24; ++i) EXPECT_EQ(s[i], 7);
  // Tiny max_len: one query and one title token at least, never longer than max_len.
  EXPECT_EQ(pair_tokens(q, t, b, 5), (V{1, 10, 2, 20, 2}));
  EXPECT_EQ(pair_tokens(q, t, b, 4), (V{1, 10, 2, 20}));
  EXPECT_EQ(pair_tokens(q, t, b, 3), (V{1, 10, 2}));
  EXPECT_EQ(pair_tokens(q, t, b, 2), (V{1, 10}));
  EXPECT_EQ(pair_tokens(q, t, b, 1), (V{1}));
  for (std::size_t m = 1; m <= 40; ++m) {
    auto x = pair_tokens(q, t, b, m);
    EXPECT_LE(x.size(), m);
    EXPECT_EQ(x.front(), 1);
    if (m >= 21) {
      EXPECT_EQ(x.size(), 1 + q.size() + 1 + t.size() + 1 + std::min<std::size_t>(b.size(), m - 14));
    }
  }
}

}  // namespace
}  // namespace funnel::rank
