// The synthetic world's recommendation feeds: when each doc was published,
// which authors each user follows, and the pages a noisy logging
// recommender showed over simulated days, answered by the world's user
// model (docs/world.md, "Feeds").
//
// The feed is built so that each family of feed recall has something to
// find: co-engagement (users of a topic engage with that topic's popular
// docs), content (a user's topics), follows (new docs of followed authors,
// which no co-engagement can reach on the day they appear) and trending
// (popularity drifts from day to day).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <unordered_set>

#include "funnel/error.h"
#include "gen/generator.h"
#include "gen/user_model.h"

namespace funnel::gen {
namespace {

constexpr std::int64_t kDay = kFeedDaySeconds;
constexpr std::int64_t kBacklogDays = 30;  // docs published before day 0 are at most this old at day 0
// Popularity = base x exp(daily random walk) x (floor + freshness): a doc is
// hot for about a week after publication, then settles on a long tail.
constexpr double kBasePopSigma = 1.0;      // lognormal base popularity
constexpr double kBasePopQuality = 1.5;    // better docs are more popular at base (log scale, per unit quality)
constexpr double kWalkSigma = 0.3;         // daily step of the walk of log popularity
constexpr double kFreshnessDays = 5;       // freshness = exp(-age_days / 5)
constexpr double kEvergreen = 0.1;         // the floor old docs keep
// The logging recommender's candidate pool (~50 docs) per page.
constexpr int kInterestDraws = 24;         // docs of the user's topics, by today's popularity
constexpr int kFollowedAuthors = 5;        // followed authors looked at per page (drawn when more) ...
constexpr int kDocsPerAuthor = 3;          // ... and each one's latest docs
constexpr int kTrending = 100;             // today's most popular docs ...
constexpr int kTrendingDraws = 8;          // ... of which a page's pool gets this many
constexpr int kRandomDraws = 4;            // exploration
// Its score: interest, quality, log popularity, followed author, noise.
constexpr double kScoreInterest = 2.0, kScoreQuality = 0.8, kScorePop = 0.35, kScoreFollowed = 1.0,
                 kScoreNoise = 1.0;
// Follows at the start: mostly authors of the user's own topics.
constexpr double kFollowOwnTopic = 0.8;

// Knuth's method; fine for the small means of feed_follows (<= 100).
int poisson(double mean, Rng& rng) {
  const double limit = std::exp(-mean);
  int k = 0;
  for (double p = rng.uniform(); p > limit; p *= rng.uniform()) ++k;
  return k;
}

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

// Follows at the start, drawn like a user's own taste: an author of one of
// their topics (by the author's popularity), sometimes anyone. Recorded in
// the users' truth.
std::vector<std::vector<int>> Generator::make_follows() {
  const std::size_t U = users_.size(), A = authors_.size();
  std::vector<std::vector<int>> authors_of_topic(T_);
  std::vector<std::vector<double>> author_cdf_of_topic(T_);
  for (std::size_t a = 0; a < A; ++a)
    for (int t : authors_[a].topics) {
      authors_of_topic[t].push_back(static_cast<int>(a));
      author_cdf_of_topic[t].push_back(author_cdf_[a] - (a ? author_cdf_[a - 1] : 0.0));
    }
  for (auto& c : author_cdf_of_topic) c = cdf(c);
  std::vector<std::vector<int>> follows(U);
  for (std::size_t ui = 0; ui < U; ++ui) {
    const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(poisson(o_.feed_follows, rng_)), A);
    auto& f = follows[ui];
    for (std::size_t tries = 0; f.size() < n && tries < 20 * n; ++tries) {
      int a;
      int t = -1;
      if (rng_.chance(kFollowOwnTopic)) {
        double x = rng_.uniform();
        for (auto& [it, w] : users_[ui].interests) { t = it; if ((x -= w) < 0) break; }
      }
      if (t >= 0 && !authors_of_topic[t].empty()) a = authors_of_topic[t][rng_.pick_cdf(author_cdf_of_topic[t])];
      else a = static_cast<int>(rng_.pick_cdf(author_cdf_));
      if (!contains(f, a)) f.push_back(a);
    }
    w_.user_truth[ui].follows = f;
  }
  return follows;
}

void Generator::make_feed() {
  const std::size_t N = w_.corpus.docs.size(), U = users_.size(), A = authors_.size();
  const int days = o_.feed_days;
  const std::int64_t horizon = days * kDay;

  // Publication times; the rest of the world has no time, so any doc may be
  // a fresh one.
  auto& published = w_.doc_published;
  published.resize(N);
  for (std::size_t i = 0; i < N; ++i) {
    published[i] = rng_.chance(o_.feed_fresh_share)
                       ? static_cast<std::int64_t>(rng_.below(static_cast<std::size_t>(horizon)))
                       : -kBacklogDays * kDay + static_cast<std::int64_t>(rng_.below(kBacklogDays * kDay));
    w_.corpus.docs[i].published = published[i];
  }
  auto by_publication = [&](int a, int b) { return std::pair(published[a], a) < std::pair(published[b], b); };
  std::vector<std::vector<int>> docs_of_author(A);
  for (std::size_t i = 0; i < N; ++i) docs_of_author[w_.doc_truth[i].author].push_back(static_cast<int>(i));
  for (auto& d : docs_of_author) std::sort(d.begin(), d.end(), by_publication);
  std::vector<double> base(N), walk(N, 0.0), pop(N, 0.0);
  for (std::size_t i = 0; i < N; ++i)
    base[i] = std::exp(kBasePopSigma * rng_.normal() + kBasePopQuality * (w_.doc_truth[i].quality - 0.5));

  std::vector<std::vector<int>> follows = make_follows();  // grows with `follow` signals

  Interactions& log = w_.feed;
  log.signal_names = {"click", "watch", "finish", "like", "share", "follow"};
  log.has_time = true;
  log.rows.reserve(o_.feed_pages * o_.page_size);
  log.signals.reserve(o_.feed_pages * o_.page_size * log.signal_names.size());
  std::vector<std::unordered_set<int>> clicked(U);
  std::vector<std::uint32_t> in_pool(N, 0);  // the last page (1-based) whose pool took the doc
  std::vector<std::vector<double>> topic_cdf(T_);
  std::vector<int> trending(N);
  std::vector<std::pair<std::int64_t, std::size_t>> visits;  // (second of the day, user)
  std::vector<int> pool, looked_at;
  std::vector<std::pair<double, int>> scored;
  std::size_t page_no = 0;
  for (int day = 0; day < days; ++day) {
    const std::int64_t day_start = day * kDay, day_end = day_start + kDay;
    // Today's popularity, of every doc published by the end of the day (a
    // doc published during the day is as fresh as can be, from its time on).
    for (std::size_t i = 0; i < N; ++i) {
      if (published[i] >= day_end) continue;
      walk[i] += kWalkSigma * rng_.normal();
      const double age_days = static_cast<double>(std::max<std::int64_t>(0, day_start - published[i])) / kDay;
      pop[i] = base[i] * std::exp(walk[i]) * (kEvergreen + std::exp(-age_days / kFreshnessDays));
    }
    for (int t = 0; t < T_; ++t) {
      topic_cdf[t].clear();
      for (int row : docs_of_topic_[t]) topic_cdf[t].push_back(pop[row]);
      topic_cdf[t] = cdf(topic_cdf[t]);
    }
    trending.clear();
    for (std::size_t i = 0; i < N; ++i)
      if (published[i] < day_start) trending.push_back(static_cast<int>(i));
    const std::size_t n_trending = std::min<std::size_t>(kTrending, trending.size());
    std::partial_sort(trending.begin(), trending.begin() + n_trending, trending.end(),
                      [&](int a, int b) { return pop[a] != pop[b] ? pop[a] > pop[b] : a < b; });
    trending.resize(n_trending);

    // Today's visits, by the users' activity, served in time order so that
    // clicks and follows act on the pages after them.
    const std::size_t pages_today = o_.feed_pages / days + (static_cast<std::size_t>(day) < o_.feed_pages % days);
    visits.clear();
    for (std::size_t k = 0; k < pages_today; ++k) {
      const std::size_t ui = rng_.pick_cdf(user_cdf_);
      visits.push_back({static_cast<std::int64_t>(rng_.below(kDay)), ui});
    }
    std::sort(visits.begin(), visits.end());

    for (auto [second, ui] : visits) {
      const std::int64_t now = day_start + second;
      const User& u = users_[ui];
      const auto& seen = clicked[ui];
      auto& f = follows[ui];
      ++page_no;
      pool.clear();
      auto add = [&](int row) {
        if (published[row] > now || in_pool[row] == page_no || seen.count(row)) return;
        in_pool[row] = static_cast<std::uint32_t>(page_no);
        pool.push_back(row);
      };
      for (int k = 0; k < kInterestDraws; ++k) {
        double x = rng_.uniform();
        int t = -1;
        for (auto& [it, w] : u.interests) { t = it; if ((x -= w) < 0) break; }
        if (topic_cdf[t].empty() || topic_cdf[t].back() <= 0) continue;
        add(docs_of_topic_[t][rng_.pick_cdf(topic_cdf[t])]);
      }
      looked_at = f;
      if (looked_at.size() > static_cast<std::size_t>(kFollowedAuthors)) {
        for (int k = 0; k < kFollowedAuthors; ++k) std::swap(looked_at[k], looked_at[k + rng_.below(looked_at.size() - k)]);
        looked_at.resize(kFollowedAuthors);
      }
      for (int a : looked_at) {
        const auto& docs = docs_of_author[a];
        auto end = std::partition_point(docs.begin(), docs.end(), [&](int row) { return published[row] <= now; });
        for (auto it = end; it != docs.begin() && end - it < kDocsPerAuthor;) add(*--it);
      }
      for (int k = 0; k < kTrendingDraws && !trending.empty(); ++k) add(trending[rng_.below(trending.size())]);
      for (int k = 0; k < kRandomDraws; ++k) add(static_cast<int>(rng_.below(N)));
      // A narrow taste can leave the pool short of a page; fill it as the
      // exploration draws do.
      for (std::size_t tries = 0; pool.size() < o_.page_size && tries < 20 * o_.page_size; ++tries)
        add(static_cast<int>(rng_.below(N)));

      scored.clear();
      for (int row : pool) {
        const auto& d = w_.doc_truth[row];
        const double s = kScoreInterest * u.interest(d.topic) + kScoreQuality * d.quality +
                         kScorePop * std::log(pop[row]) + kScoreFollowed * contains(f, d.author) +
                         kScoreNoise * rng_.normal();
        scored.push_back({s, row});
      }
      const std::size_t n = std::min(o_.page_size, scored.size());
      std::partial_sort(scored.begin(), scored.begin() + n, scored.end(),
                        [](auto& a, auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
      // Followed as the page was built: a follow acts on later pages.
      std::vector<bool> followed(n);
      for (std::size_t pos = 0; pos < n; ++pos) followed[pos] = contains(f, w_.doc_truth[scored[pos].second].author);
      const std::uint32_t user_row = log.add_user(pad_id('u', ui, U));
      for (std::size_t pos = 0; pos < n; ++pos) {
        const int row = scored[pos].second;
        const auto& d = w_.doc_truth[row];
        const bool short_video = w_.corpus.docs[row].category == "short";
        UserFeedback fb = feed_feedback(u, d, short_video, followed[pos], static_cast<int>(pos), rng_);
        if (fb.click) clicked[ui].insert(row);
        if (fb.follow) {
          if (contains(f, d.author)) fb.follow = false;  // followed from an earlier slot of this page
          else f.push_back(d.author);
        }
        log.rows.push_back({user_row, static_cast<std::uint32_t>(row), now});
        for (float s : {float(fb.click), fb.watch, float(fb.finish), float(fb.like), float(fb.share), float(fb.follow)})
          log.signals.push_back(s);
      }
      if (progress_ && (page_no % 10000 == 0 || page_no == o_.feed_pages)) progress_("feed", page_no, o_.feed_pages);
    }
  }
}

}  // namespace funnel::gen
