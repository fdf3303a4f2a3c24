// The feed's recall channels over a FeedState: item2item, follow, trending
// and revisit. Each formula is written here once; docs/feeds.md states them.
#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>

#include "funnel/error.h"
#include "funnel/feed.h"

namespace funnel {

namespace {

constexpr std::array<const char*, 4> kChannels = {"item2item", "follow", "trending", "revisit"};

// The best `k` of (item, score) by score descending, row ascending on ties.
std::vector<RecallHit> top_k(std::vector<RecallHit> hits, std::size_t k) {
  auto better = [](const RecallHit& a, const RecallHit& b) { return a.score != b.score ? a.score > b.score : a.row < b.row; };
  if (hits.size() > k) {
    std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(k), hits.end(), better);
    hits.resize(k);
  } else {
    std::sort(hits.begin(), hits.end(), better);
  }
  return hits;
}

// Adds score to items in a sparse accumulator.
struct Accumulator {
  std::unordered_map<std::uint32_t, double> score;
  void add(std::uint32_t item, double s) { score[item] += s; }
  std::vector<RecallHit> hits(const FeedState& st, std::uint32_t user) const {
    std::vector<RecallHit> out;
    out.reserve(score.size());
    for (auto [item, s] : score)
      if (s > 0 && !st.excluded(user, item)) out.push_back({item, s});
    return out;
  }
};

// item2item: sum over the user's last `history` engaged items i of sim(i, j).
std::vector<RecallHit> item2item(const FeedState& st, std::uint32_t user, std::size_t k) {
  const auto h = st.history(user);
  const std::size_t from = h.size() > st.options().history ? h.size() - st.options().history : 0;
  Accumulator acc;
  for (std::size_t n = from; n < h.size(); ++n)
    for (auto [j, sim] : st.neighbours(h[n].item)) acc.add(j, sim);
  return top_k(acc.hits(st, user), k);
}

// follow: affinity(user, author(j)) * 2^(-age(j) / half-life) over the
// newest items of the authors the user follows or engaged with.
std::vector<RecallHit> follow(const FeedState& st, std::uint32_t user, std::size_t k) {
  std::vector<RecallHit> out;
  const double hl = st.options().follow_half_life_hours;
  for (auto [author, w] : st.user_authors(user))
    for (std::uint32_t j : st.author_items(author)) {
      if (st.excluded(user, j)) continue;
      const double recency = hl > 0 ? std::exp2(-st.age_hours(j) / hl) : 1.0;
      out.push_back({j, w * recency});
    }
  return top_k(std::move(out), k);
}

// trending: the state's time-decayed engagement, the same for every user
// except for their exclusions.
std::vector<RecallHit> trending(const FeedState& st, std::optional<std::uint32_t> user, std::size_t k) {
  std::vector<RecallHit> out;
  for (std::uint32_t j : st.trending_order()) {
    if (out.size() >= k) break;
    if (user && st.excluded(*user, j)) continue;
    out.push_back({j, st.trending(j)});
  }
  return out;
}

// revisit: the user's own engaged items that are not excluded, by grade
// times the trending decay of their latest engagement.
std::vector<RecallHit> revisit(const FeedState& st, std::uint32_t user, std::size_t k) {
  std::vector<RecallHit> out;
  const double hl = st.options().trending_half_life_hours;
  for (const auto& e : st.history(user)) {
    if (st.excluded(user, e.item)) continue;
    double w = e.grade;
    if (hl > 0 && st.now() != Interaction::kNoTime && e.time != Interaction::kNoTime)
      w *= std::exp2(-static_cast<double>(st.now() - e.time) / (hl * 3600.0));
    out.push_back({e.item, w});
  }
  return top_k(std::move(out), k);
}

}  // namespace

std::span<const char* const> feed_state_channels() { return kChannels; }

std::vector<RecallHit> feed_channel_hits(const FeedState& state, std::string_view channel,
                                         std::optional<std::uint32_t> user, std::size_t k) {
  if (k == 0) return {};
  if (channel == "trending") return trending(state, user, k);
  const bool known = std::any_of(kChannels.begin(), kChannels.end(), [&](const char* c) { return channel == c; });
  if (!known) throw Error("no feed channel '" + std::string(channel) + "' (has: item2item, follow, trending, revisit)");
  if (!user) return {};
  if (channel == "item2item") return item2item(state, *user, k);
  if (channel == "follow") return follow(state, *user, k);
  return revisit(state, *user, k);
}

}  // namespace funnel
