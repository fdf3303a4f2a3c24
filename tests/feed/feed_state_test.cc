// The feed's recall channels against brute-force computations on a small
// random log, and the state's refusal to read later log parts.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "funnel/error.h"
#include "funnel/feed.h"
#include "util/rng.h"

namespace funnel {
namespace {

constexpr std::size_t kItems = 40, kUsers = 25;

// A corpus of kItems items by 6 authors, published at hour -i, and a log of
// random (user, item) rows over 10 days with click/like/follow signals;
// days 0-6 train, 7 dev, 8-9 test.
struct TinyFeed {
  Corpus corpus;
  FeedLog log;
  explicit TinyFeed(std::uint64_t seed) {
    detail::Rng rng(seed);
    for (std::size_t i = 0; i < kItems; ++i) {
      Doc d;
      d.id = "i" + std::to_string(i);
      d.author = i % 7 == 6 ? "" : "a" + std::to_string(i % 6);
      d.category = "c" + std::to_string(i % 3);
      d.published = -static_cast<std::int64_t>(i) * 3600;
      corpus.row_of[d.id] = static_cast<std::uint32_t>(i);
      corpus.docs.push_back(d);
    }
    Interactions& L = log.log;
    L.signal_names = {"click", "like", "follow"};
    L.has_time = true;
    for (std::size_t u = 0; u < kUsers; ++u) L.add_user("u" + std::to_string(u));
    for (int n = 0; n < 400; ++n) {
      Interaction x;
      x.user = static_cast<std::uint32_t>(rng.below(kUsers));
      x.item = static_cast<std::uint32_t>(rng.below(kItems / 2) + (x.user % 2) * rng.below(kItems / 2));
      x.time = static_cast<std::int64_t>(n) * 10 * 86400 / 400;
      L.rows.push_back(x);
      const bool click = rng.chance(0.6);
      L.signals.push_back(click ? 1.0f : 0.0f);
      L.signals.push_back(click && rng.chance(0.3) ? 1.0f : 0.0f);
      L.signals.push_back(click && rng.chance(0.1) ? 1.0f : 0.0f);
      const int day = static_cast<int>(x.time / 86400);
      log.part.push_back(day < 7 ? LogPart::kTrain : day < 8 ? LogPart::kDev : LogPart::kTest);
    }
    log.grade_weights = {{"click", 1.0f}, {"like", 1.0f}};
    log.exclude = "like";
  }
  bool visible(std::size_t i, LogPart as_of) const { return static_cast<int>(log.part[i]) <= static_cast<int>(as_of); }
};

// The brute-force view of one state: per user the engaged items (grade
// sums, last time), excluded items, per item its users.
struct Brute {
  std::map<std::uint32_t, std::map<std::uint32_t, std::pair<double, std::int64_t>>> engaged;  // user -> item -> (grade, last time)
  std::map<std::uint32_t, std::set<std::uint32_t>> excluded, users_of;
  std::map<std::uint32_t, std::map<std::uint32_t, double>> affinity;  // user -> author -> weight
  std::int64_t now = 0;
  Brute(const TinyFeed& f, LogPart as_of, const FeedState& st) {
    const auto& L = f.log.log;
    for (std::size_t i = 0; i < L.rows.size(); ++i) {
      if (!f.visible(i, as_of)) continue;
      const auto& x = L.rows[i];
      now = std::max(now, x.time);
      const double g = f.log.grade(i);
      if (f.log.excludes(i)) excluded[x.user].insert(x.item);
      const std::uint32_t a = st.author(x.item);
      const double w = g + (L.signal(i, 2) > 0 ? st.options().follow_weight : 0);
      if (a != FeedState::kNoAuthor && w > 0) affinity[x.user][a] += w;
      if (g <= 0) continue;
      auto& e = engaged[x.user][x.item];
      e.first += g;
      e.second = std::max(e.second, x.time);
      users_of[x.item].insert(x.user);
    }
  }
  double cosine(std::uint32_t i, std::uint32_t j) {
    std::size_t common = 0;
    for (auto u : users_of[i]) common += users_of[j].count(u);
    if (!common) return 0;
    return static_cast<double>(common) / std::sqrt(static_cast<double>(users_of[i].size() * users_of[j].size()));
  }
  double swing(std::uint32_t i, std::uint32_t j, double alpha) {
    std::vector<std::uint32_t> both;
    for (auto u : users_of[i])
      if (users_of[j].count(u)) both.push_back(u);
    double s = 0;
    for (std::size_t a = 0; a < both.size(); ++a)
      for (std::size_t b = a + 1; b < both.size(); ++b) {
        std::size_t common = 0;
        for (auto& [item, e] : engaged[both[a]]) common += engaged[both[b]].count(item);
        s += 1.0 / (alpha + static_cast<double>(common));
      }
    return s;
  }
};

// Expects `hits` to be the top-k of `expected` (item -> score, > 0 only),
// scores equal to 1e-4 relative, ties broken by row, distinct items.
void expect_top(const std::vector<RecallHit>& hits, std::map<std::uint32_t, double> expected, std::size_t k,
                const std::string& what) {
  std::vector<std::pair<std::uint32_t, double>> e;
  for (auto [item, s] : expected)
    if (s > 1e-12) e.push_back({item, s});
  std::sort(e.begin(), e.end(), [](auto& a, auto& b) {
    if (std::abs(a.second - b.second) > 1e-9 * std::max(1.0, std::abs(a.second))) return a.second > b.second;
    return a.first < b.first;
  });
  if (e.size() > k) e.resize(k);
  ASSERT_EQ(hits.size(), e.size()) << what;
  std::set<std::uint32_t> distinct;
  for (const auto& h : hits) distinct.insert(h.row);
  EXPECT_EQ(distinct.size(), hits.size()) << what;
  for (std::size_t r = 0; r < hits.size(); ++r) {
    EXPECT_NEAR(hits[r].score, e[r].second, 1e-4 * std::max(1.0, e[r].second)) << what << " rank " << r;
    // The right item, or one whose brute-force score ties with it (float
    // sums in another order may swap near-equal items).
    if (hits[r].row != e[r].first) {
      ASSERT_TRUE(expected.count(hits[r].row)) << what << " rank " << r;
      EXPECT_NEAR(expected[hits[r].row], e[r].second, 1e-5 * std::max(1.0, e[r].second)) << what << " rank " << r;
    }
  }
}

class FeedChannels : public ::testing::TestWithParam<std::string> {};

TEST_P(FeedChannels, MatchBruteForce) {
  const TinyFeed f(7);
  FeedOptions o;
  o.similarity = GetParam();
  o.history = 5;
  o.neighbours = 1000;
  o.follow_half_life_hours = 30;
  o.trending_half_life_hours = 12;
  for (LogPart as_of : {LogPart::kTrain, LogPart::kDev}) {
    const auto st = FeedState::build(f.corpus, f.log, as_of, o);
    Brute b(f, as_of, *st);
    EXPECT_EQ(st->now(), b.now);
    for (std::uint32_t u = 0; u < kUsers; ++u) {
      const std::string who = o.similarity + " user " + std::to_string(u);
      // item2item over the last `history` engaged items (by last engagement).
      std::vector<std::pair<std::int64_t, std::uint32_t>> recent;
      for (auto& [item, e] : b.engaged[u]) recent.push_back({e.second, item});
      std::sort(recent.begin(), recent.end());
      if (recent.size() > o.history) recent.erase(recent.begin(), recent.end() - static_cast<std::ptrdiff_t>(o.history));
      std::map<std::uint32_t, double> i2i;
      for (std::uint32_t j = 0; j < kItems; ++j) {
        if (b.excluded[u].count(j)) continue;
        for (auto [t, i] : recent)
          if (i != j) i2i[j] += o.similarity == "swing" ? b.swing(i, j, o.swing_alpha) : b.cosine(i, j);
      }
      expect_top(feed_channel_hits(*st, "item2item", u, 10), i2i, 10, "item2item " + who);
      // follow: affinity * 2^(-age / half-life) over the authors' items.
      std::map<std::uint32_t, double> fol;
      for (std::uint32_t j = 0; j < kItems; ++j) {
        const std::uint32_t a = st->author(j);
        if (a == FeedState::kNoAuthor || b.excluded[u].count(j) || !b.affinity[u].count(a)) continue;
        const double age = std::max<double>(0, static_cast<double>(b.now - *f.corpus.docs[j].published) / 3600.0);
        fol[j] = b.affinity[u][a] * std::exp2(-age / o.follow_half_life_hours);
      }
      expect_top(feed_channel_hits(*st, "follow", u, 8), fol, 8, "follow " + who);
      // revisit: own engaged, not excluded, grade * decay of the last engagement.
      std::map<std::uint32_t, double> rev;
      for (auto& [item, e] : b.engaged[u])
        if (!b.excluded[u].count(item))
          rev[item] = e.first * std::exp2(-static_cast<double>(b.now - e.second) / 3600.0 / o.trending_half_life_hours);
      expect_top(feed_channel_hits(*st, "revisit", u, 6), rev, 6, "revisit " + who);
    }
    // trending: sum of grade * 2^(-age / half-life), minus the user's exclusions.
    std::map<std::uint32_t, double> trend;
    const auto& L = f.log.log;
    for (std::size_t i = 0; i < L.rows.size(); ++i)
      if (f.visible(i, as_of) && f.log.grade(i) > 0)
        trend[L.rows[i].item] +=
            f.log.grade(i) * std::exp2(-static_cast<double>(b.now - L.rows[i].time) / 3600.0 / o.trending_half_life_hours);
    expect_top(feed_channel_hits(*st, "trending", std::nullopt, 12), trend, 12, "trending");
    for (auto item : b.excluded[3]) trend.erase(item);
    expect_top(feed_channel_hits(*st, "trending", 3u, 12), trend, 12, "trending user 3");
  }
}

INSTANTIATE_TEST_SUITE_P(Similarity, FeedChannels, ::testing::Values("cosine", "swing"));

TEST(FeedState, NeverReadsLaterParts) {
  // The same log with its test rows replaced by other users, items and
  // signals gives the same state as of dev; with dev rows changed too, the
  // same state as of train.
  const TinyFeed a(11);
  FeedOptions o;
  for (LogPart as_of : {LogPart::kTrain, LogPart::kDev}) {
    TinyFeed b(11);
    detail::Rng rng(99);
    for (std::size_t i = 0; i < b.log.log.rows.size(); ++i) {
      if (b.visible(i, as_of)) continue;
      b.log.log.rows[i].item = static_cast<std::uint32_t>(rng.below(kItems));
      b.log.log.rows[i].user = static_cast<std::uint32_t>(rng.below(kUsers));
      for (std::size_t s = 0; s < 3; ++s) b.log.log.signals[i * 3 + s] = 1.0f;
    }
    const auto sa = FeedState::build(a.corpus, a.log, as_of, o);
    const auto sb = FeedState::build(b.corpus, b.log, as_of, o);
    EXPECT_EQ(sa->now(), sb->now());
    for (std::uint32_t u = 0; u < kUsers; ++u) {
      ASSERT_EQ(sa->history(u).size(), sb->history(u).size());
      for (std::size_t k = 0; k < sa->history(u).size(); ++k) EXPECT_EQ(sa->history(u)[k].item, sb->history(u)[k].item);
      EXPECT_TRUE(std::ranges::equal(sa->excluded_items(u), sb->excluded_items(u)));
      for (const char* ch : feed_state_channels()) {
        const auto ha = feed_channel_hits(*sa, ch, u, 20), hb = feed_channel_hits(*sb, ch, u, 20);
        ASSERT_EQ(ha.size(), hb.size()) << ch;
        for (std::size_t k = 0; k < ha.size(); ++k) EXPECT_EQ(ha[k].row, hb[k].row) << ch;
      }
    }
    // And the later rows do change the state when it may read them.
    const auto la = FeedState::build(a.corpus, a.log, LogPart::kTest, o);
    const auto lb = FeedState::build(b.corpus, b.log, LogPart::kTest, o);
    bool differ = false;
    for (std::uint32_t u = 0; u < kUsers; ++u) differ = differ || la->history(u).size() != lb->history(u).size();
    EXPECT_TRUE(differ);
  }
}

TEST(FeedState, UnknownUserGetsTrendingOnly) {
  const TinyFeed f(3);
  const auto st = FeedState::build(f.corpus, f.log, LogPart::kTest, FeedOptions{});
  EXPECT_FALSE(st->user("nobody"));
  EXPECT_TRUE(feed_channel_hits(*st, "item2item", std::nullopt, 10).empty());
  EXPECT_EQ(feed_channel_hits(*st, "trending", std::nullopt, 5).size(), 5u);
  EXPECT_THROW(feed_channel_hits(*st, "bogus", 0u, 5), Error);
}

}  // namespace
}  // namespace funnel
