// FeedState::build: histories, exclusions, item-to-item neighbours,
// trending and authors from the log parts up to `as_of`.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include "core/config_util.h"
#include "funnel/error.h"
#include "funnel/feed.h"

namespace funnel {
using nlohmann::json;

namespace {

constexpr double kHour = 3600.0;
constexpr std::size_t kSwingUsers = 200;

// Half-life decay of something `age` seconds old (1 without time or half-life).
double decay(std::int64_t now, std::int64_t t, double half_life_hours) {
  if (half_life_hours <= 0 || now == Interaction::kNoTime || t == Interaction::kNoTime) return 1.0;
  const double age = std::max<double>(0.0, static_cast<double>(now - t));
  return std::exp2(-age / (half_life_hours * kHour));
}

// Item-to-item similarity from each item's users (sorted) and each user's
// items, keeping the best `keep` neighbours per item.
std::vector<std::vector<std::pair<std::uint32_t, float>>> item_neighbours(
    std::size_t n_items, const std::vector<std::vector<std::uint32_t>>& users_of,
    const std::vector<std::vector<std::uint32_t>>& items_of, const FeedOptions& o) {
  std::vector<std::vector<std::pair<std::uint32_t, float>>> out(n_items);
  std::vector<double> acc(n_items, 0.0);
  std::vector<std::uint32_t> touched;
  const bool swing = o.similarity == "swing";
  // Swing: |I_u & I_v| for the user pairs of one item, by a marked set.
  std::vector<std::uint8_t> mark(n_items, 0);
  for (std::size_t i = 0; i < n_items; ++i) {
    const auto& ui = users_of[i];
    if (ui.empty()) continue;
    touched.clear();
    if (!swing) {
      for (std::uint32_t u : ui)
        for (std::uint32_t j : items_of[u]) {
          if (j == i) continue;
          if (acc[j] == 0) touched.push_back(j);
          acc[j] += 1.0;
        }
      for (std::uint32_t j : touched)
        acc[j] /= std::sqrt(static_cast<double>(ui.size()) * static_cast<double>(users_of[j].size()));
    } else {
      // The pairs of an item's first kSwingUsers users only: the count is
      // quadratic in its users.
      const std::size_t nu = std::min(ui.size(), kSwingUsers);
      for (std::size_t a = 0; a < nu; ++a) {
        for (std::uint32_t x : items_of[ui[a]]) mark[x] = 1;
        for (std::size_t b = a + 1; b < nu; ++b) {
          std::size_t common = 0;
          for (std::uint32_t x : items_of[ui[b]]) common += mark[x];
          const double w = 1.0 / (o.swing_alpha + static_cast<double>(common));
          for (std::uint32_t j : items_of[ui[b]]) {
            if (j == i || !mark[j]) continue;
            if (acc[j] == 0) touched.push_back(j);
            acc[j] += w;
          }
        }
        for (std::uint32_t x : items_of[ui[a]]) mark[x] = 0;
      }
    }
    auto& nb = out[i];
    nb.reserve(touched.size());
    for (std::uint32_t j : touched) {
      nb.push_back({j, static_cast<float>(acc[j])});
      acc[j] = 0;
    }
    const std::size_t keep = std::min(o.neighbours, nb.size());
    std::partial_sort(nb.begin(), nb.begin() + static_cast<std::ptrdiff_t>(keep), nb.end(),
                      [](auto& a, auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
    nb.resize(keep);
    nb.shrink_to_fit();
  }
  return out;
}

}  // namespace

FeedOptions feed_options_from_json(const json& j, const std::string& where) {
  FeedOptions o;
  if (!j.is_object()) throw Error(where + ": expected an object");
  detail::check_keys(j,
                     {"history", "neighbours", "similarity", "swing_alpha", "cooccurrence_cap",
                      "trending_half_life_hours", "follow_half_life_hours", "follow_weight", "items_per_author"},
                     where);
  o.history = detail::get_size(j, "history", where, o.history);
  o.neighbours = detail::get_size(j, "neighbours", where, o.neighbours);
  if (j.contains("similarity")) o.similarity = detail::get_string(j, "similarity", where);
  if (o.similarity != "cosine" && o.similarity != "swing")
    throw Error(where + ": field 'similarity': expected \"cosine\" or \"swing\", got \"" + o.similarity + "\"");
  o.swing_alpha = detail::get_weight(j, "swing_alpha", where, o.swing_alpha);
  if (o.swing_alpha <= 0) throw Error(where + ": field 'swing_alpha': expected a number > 0");
  o.cooccurrence_cap = detail::get_size(j, "cooccurrence_cap", where, o.cooccurrence_cap);
  o.trending_half_life_hours = detail::get_weight(j, "trending_half_life_hours", where, o.trending_half_life_hours);
  o.follow_half_life_hours = detail::get_weight(j, "follow_half_life_hours", where, o.follow_half_life_hours);
  o.follow_weight = detail::get_weight(j, "follow_weight", where, o.follow_weight);
  o.items_per_author = detail::get_size(j, "items_per_author", where, o.items_per_author);
  if (o.history == 0 || o.neighbours == 0 || o.cooccurrence_cap == 0 || o.items_per_author == 0)
    throw Error(where + ": history, neighbours, cooccurrence_cap and items_per_author must be >= 1");
  return o;
}

json feed_options_to_json(const FeedOptions& o) {
  return {{"history", o.history},
          {"neighbours", o.neighbours},
          {"similarity", o.similarity},
          {"swing_alpha", o.swing_alpha},
          {"cooccurrence_cap", o.cooccurrence_cap},
          {"trending_half_life_hours", o.trending_half_life_hours},
          {"follow_half_life_hours", o.follow_half_life_hours},
          {"follow_weight", o.follow_weight},
          {"items_per_author", o.items_per_author}};
}

std::optional<std::uint32_t> FeedState::user(std::string_view id) const {
  auto it = user_row_.find(std::string(id));
  if (it == user_row_.end()) return std::nullopt;
  return it->second;
}

bool FeedState::excluded(std::uint32_t user, std::uint32_t item) const {
  const auto& ex = excluded_[user];
  return std::binary_search(ex.begin(), ex.end(), item);
}

double FeedState::age_hours(std::uint32_t item) const {
  const std::int64_t t = item_time_[item];
  if (t == Interaction::kNoTime || now_ == Interaction::kNoTime) return 0;
  return std::max<double>(0.0, static_cast<double>(now_ - t) / kHour);
}

std::shared_ptr<const FeedState> FeedState::build(const Corpus& corpus, const FeedLog& log, LogPart as_of,
                                                  const FeedOptions& options) {
  auto s = std::shared_ptr<FeedState>(new FeedState());
  s->options_ = options;
  s->as_of_ = as_of;
  const Interactions& L = log.log;
  const std::size_t n_items = corpus.docs.size(), n_users = L.user_ids.size();
  s->user_ids_ = L.user_ids;
  s->user_row_ = L.user_row;
  s->history_.resize(n_users);
  s->excluded_.resize(n_users);
  s->item_users_.assign(n_items, 0);
  s->trending_.assign(n_items, 0.0f);
  s->item_time_.assign(n_items, Interaction::kNoTime);

  // Rows visible as of `as_of`, in time order (file order without time).
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < L.rows.size(); ++i)
    if (static_cast<int>(log.part[i]) <= static_cast<int>(as_of)) rows.push_back(i);
  if (L.has_time)
    std::stable_sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) { return L.rows[a].time < L.rows[b].time; });
  for (std::size_t i : rows)
    if (L.has_time) s->now_ = std::max(s->now_ == Interaction::kNoTime ? L.rows[i].time : s->now_, L.rows[i].time);

  // Authors as dense ids; publication times.
  std::unordered_map<std::string, std::uint32_t> author_id;
  s->author_of_.assign(n_items, kNoAuthor);
  for (std::size_t r = 0; r < n_items; ++r) {
    const Doc& d = corpus.docs[r];
    if (!d.author.empty()) {
      auto [it, fresh] = author_id.emplace(d.author, static_cast<std::uint32_t>(author_id.size()));
      s->author_of_[r] = it->second;
    }
    if (d.published) s->item_time_[r] = *d.published;
  }

  // Histories (one entry per item, latest time, summed grade), exclusions,
  // trending, first engagement times, user-author affinities.
  std::vector<std::unordered_map<std::uint32_t, std::size_t>> slot(n_users);
  std::vector<std::unordered_map<std::uint32_t, float>> affinity(n_users);
  const int follow_s = L.signal_index("follow");
  for (std::size_t i : rows) {
    const Interaction& x = L.rows[i];
    const float g = log.grade(i);
    if (log.excludes(i)) s->excluded_[x.user].push_back(x.item);
    const std::uint32_t a = s->author_of_[x.item];
    if (a != kNoAuthor) {
      float w = g;
      if (follow_s >= 0 && L.signal(i, static_cast<std::size_t>(follow_s)) > 0) w += static_cast<float>(options.follow_weight);
      if (w > 0) affinity[x.user][a] += w;
    }
    if (g <= 0) continue;
    if (s->item_time_[x.item] == Interaction::kNoTime && x.time != Interaction::kNoTime) s->item_time_[x.item] = x.time;
    s->trending_[x.item] += static_cast<float>(g * decay(s->now_, x.time, options.trending_half_life_hours));
    auto& h = s->history_[x.user];
    auto [it, fresh] = slot[x.user].emplace(x.item, h.size());
    if (fresh) {
      h.push_back({x.item, x.time, g});
    } else {
      // Move the item to its latest engagement (histories stay time-ordered).
      Engaged e = h[it->second];
      e.time = x.time;
      e.grade += g;
      h.erase(h.begin() + static_cast<std::ptrdiff_t>(it->second));
      h.push_back(e);
      for (std::size_t k = it->second; k < h.size(); ++k) slot[x.user][h[k].item] = k;
    }
  }
  for (auto& ex : s->excluded_) {
    std::sort(ex.begin(), ex.end());
    ex.erase(std::unique(ex.begin(), ex.end()), ex.end());
  }

  // Co-engagement: each item's users, each user's most recent items.
  std::vector<std::vector<std::uint32_t>> users_of(n_items), items_of(n_users);
  for (std::uint32_t u = 0; u < n_users; ++u) {
    const auto& h = s->history_[u];
    const std::size_t from = h.size() > options.cooccurrence_cap ? h.size() - options.cooccurrence_cap : 0;
    for (std::size_t k = from; k < h.size(); ++k) items_of[u].push_back(h[k].item);
    for (const Engaged& e : h) ++s->item_users_[e.item];
    std::sort(items_of[u].begin(), items_of[u].end());
    for (std::uint32_t it : items_of[u]) users_of[it].push_back(u);
  }
  s->neighbours_ = item_neighbours(n_items, users_of, items_of, options);

  for (std::uint32_t r = 0; r < n_items; ++r)
    if (s->trending_[r] > 0) s->trending_order_.push_back(r);
  std::sort(s->trending_order_.begin(), s->trending_order_.end(), [&](std::uint32_t a, std::uint32_t b) {
    return s->trending_[a] != s->trending_[b] ? s->trending_[a] > s->trending_[b] : a < b;
  });

  // Authors' items, newest first (items never published nor engaged last).
  s->author_items_.resize(author_id.size());
  for (std::uint32_t r = 0; r < n_items; ++r)
    if (s->author_of_[r] != kNoAuthor) s->author_items_[s->author_of_[r]].push_back(r);
  for (auto& items : s->author_items_) {
    std::sort(items.begin(), items.end(), [&](std::uint32_t a, std::uint32_t b) {
      const std::int64_t ta = s->item_time_[a], tb = s->item_time_[b];
      return ta != tb ? ta > tb : a < b;
    });
    if (items.size() > options.items_per_author) items.resize(options.items_per_author);
  }
  s->user_authors_.resize(n_users);
  for (std::uint32_t u = 0; u < n_users; ++u) {
    auto& ua = s->user_authors_[u];
    ua.assign(affinity[u].begin(), affinity[u].end());
    std::sort(ua.begin(), ua.end(),
              [](auto& a, auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  }
  return s;
}

}  // namespace funnel
