#include "feed/feed_features.h"

#include <cmath>
#include <limits>
#include <unordered_map>

namespace funnel::feed {

namespace {
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
}  // namespace

const std::vector<std::string>& feed_feature_names() {
  static const std::vector<std::string> names = {
      "i2i",             // sum of item2item similarities to the user's recent history
      "ann",             // user vector . item vector (the user tower)
      "author_affinity", // the user's engagement grades (+ follows) with the item's author
      "author_share",    // that affinity over all the user's author affinity
      "trending",        // log1p(time-decayed engagement)
      "popularity",      // log1p(users who engaged with the item)
      "age_hours",       // log1p(hours since publication, else first engagement)
      "own_grade",       // the user's own past grade on the item (revisits, carts)
      "own_recency",     // log1p(hours since the user last engaged with the item)
      "history_len",     // log1p(items the user engaged with)
      "category_share",  // share of the user's history in the item's category
      "author_recency",  // log1p(hours since the user last engaged with the author)
  };
  return names;
}

std::vector<float> feed_features(const FeedModel& model, std::optional<std::uint32_t> user,
                                 std::span<const std::uint32_t> items) {
  const FeedState& st = model.state();
  const Corpus& corpus = model.data().corpus;
  const std::size_t F = feed_feature_names().size();
  std::vector<float> x(items.size() * F, kNaN);
  const bool timed = st.now() != Interaction::kNoTime;
  auto hours_since = [&](std::int64_t t) {
    return static_cast<float>(std::log1p(std::max<double>(0.0, static_cast<double>(st.now() - t)) / 3600.0));
  };

  // Per-user tables, built once per request.
  std::unordered_map<std::uint32_t, double> i2i;
  std::unordered_map<std::uint32_t, const FeedState::Engaged*> own;
  std::unordered_map<std::string, double> category;
  std::unordered_map<std::uint32_t, std::int64_t> author_last;
  std::unordered_map<std::uint32_t, float> affinity;
  double affinity_total = 0;
  std::size_t hist = 0;
  std::span<const float> uvec;
  if (user) {
    const auto h = st.history(*user);
    hist = h.size();
    const std::size_t from = h.size() > st.options().history ? h.size() - st.options().history : 0;
    for (std::size_t n = from; n < h.size(); ++n)
      for (auto [j, sim] : st.neighbours(h[n].item)) i2i[j] += sim;
    for (const auto& e : h) {
      own[e.item] = &e;
      category[corpus.docs[e.item].category] += 1;
      const std::uint32_t a = st.author(e.item);
      if (a != FeedState::kNoAuthor && e.time != Interaction::kNoTime) {
        auto [it, fresh] = author_last.emplace(a, e.time);
        if (!fresh) it->second = std::max(it->second, e.time);
      }
    }
    for (auto [a, w] : st.user_authors(*user)) {
      affinity[a] = w;
      affinity_total += w;
    }
    uvec = model.user_vector(*user);
  }

  for (std::size_t r = 0; r < items.size(); ++r) {
    const std::uint32_t j = items[r];
    float* f = x.data() + r * F;
    const std::uint32_t a = st.author(j);
    f[4] = static_cast<float>(std::log1p(st.trending(j)));
    f[5] = static_cast<float>(std::log1p(static_cast<double>(st.item_users(j))));
    if (timed) f[6] = static_cast<float>(std::log1p(st.age_hours(j)));
    if (!user) continue;
    auto it = i2i.find(j);
    f[0] = it == i2i.end() ? 0.0f : static_cast<float>(it->second);
    if (!uvec.empty()) {
      const auto v = model.item_vector(j);
      double d = 0;
      for (std::size_t k = 0; k < v.size(); ++k) d += static_cast<double>(uvec[k]) * v[k];
      f[1] = static_cast<float>(d);
    }
    const auto af = a == FeedState::kNoAuthor ? affinity.end() : affinity.find(a);
    f[2] = af == affinity.end() ? 0.0f : af->second;
    f[3] = affinity_total > 0 && af != affinity.end() ? static_cast<float>(af->second / affinity_total) : 0.0f;
    const auto ow = own.find(j);
    f[7] = ow == own.end() ? 0.0f : ow->second->grade;
    if (ow != own.end() && timed && ow->second->time != Interaction::kNoTime) f[8] = hours_since(ow->second->time);
    f[9] = static_cast<float>(std::log1p(static_cast<double>(hist)));
    const std::string& cat = corpus.docs[j].category;
    if (!cat.empty() && hist > 0) {
      auto c = category.find(cat);
      f[10] = c == category.end() ? 0.0f : static_cast<float>(c->second / static_cast<double>(hist));
    }
    if (a != FeedState::kNoAuthor && timed) {
      auto al = author_last.find(a);
      if (al != author_last.end()) f[11] = hours_since(al->second);
    }
  }
  return x;
}

}  // namespace funnel::feed
