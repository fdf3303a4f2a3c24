// The synthetic world's users and logged impressions with their feedback.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "funnel/error.h"
#include "gen/generator.h"
#include "gen/user_model.h"

namespace funnel::gen {

void Generator::make_users() {
  users_.resize(o_.users);
  for (auto& u : users_) {
    int n = 1 + static_cast<int>(rng_.below(3));
    double total = 0;
    while (static_cast<int>(u.interests.size()) < n) {
      int t = static_cast<int>(rng_.pick_cdf(topic_cdf_));
      bool dup = std::any_of(u.interests.begin(), u.interests.end(), [&](auto& p) { return p.first == t; });
      if (dup) continue;
      double w = 0.2 + rng_.uniform();
      u.interests.push_back({t, w});
      total += w;
    }
    for (auto& [t, w] : u.interests) w /= total;
    u.like_p = 0.06 * std::exp(0.6 * rng_.normal());
    u.share_p = 0.012 * std::exp(0.7 * rng_.normal());
    u.follow_p = 0.01 * std::exp(0.7 * rng_.normal());
    u.patience = 0.5 * rng_.normal();
    std::vector<std::string> names;
    for (auto& [t, w] : u.interests) names.push_back(w_.topic_names[t]);
    w_.user_interests.push_back(names);
  }
  std::vector<double> activity(o_.users);
  for (std::size_t i = 0; i < o_.users; ++i) activity[i] = 1.0 / std::pow(rng_.below(o_.users) + 1.0, 0.5);
  user_cdf_ = cdf(activity);
  for (std::size_t i = 0; i < o_.users; ++i) users_[i].activity = activity[i];
  w_.user_truth = users_;
}

// The logging ranker: a noisy mix of relevance, quality and the user's
// interest over a per-query candidate pool; only its top page is shown.
void Generator::make_impressions() {
  const std::size_t Q = w_.queries.size();
  std::vector<std::vector<int>> queries_of_topic(T_);
  for (std::size_t i = 0; i < Q; ++i) queries_of_topic[query_topic_[i]].push_back(static_cast<int>(i));
  std::vector<double> qpop(Q);
  for (auto& x : qpop) x = std::exp(1.0 * rng_.normal());
  std::vector<double> global_cdf = cdf(qpop);
  std::vector<std::vector<double>> topic_qcdf(T_);
  for (int t = 0; t < T_; ++t) {
    std::vector<double> w;
    for (int qi : queries_of_topic[t]) w.push_back(qpop[qi]);
    if (!w.empty()) topic_qcdf[t] = cdf(w);
  }
  std::vector<std::vector<std::pair<int, int>>> pools(Q);  // (row, grade), built on first use
  const std::size_t page = o_.page_size;
  const std::size_t requests = (o_.impressions + page - 1) / page;
  w_.impressions.reserve(o_.impressions);
  std::vector<std::pair<double, std::pair<int, int>>> scored;
  for (std::size_t r = 0; r < requests && w_.impressions.size() < o_.impressions; ++r) {
    std::size_t ui = rng_.pick_cdf(user_cdf_);
    const User& u = users_[ui];
    std::size_t qi;
    int t = -1;
    if (rng_.chance(0.7)) {
      double x = rng_.uniform();
      for (auto& [it, w] : u.interests) { t = it; if ((x -= w) < 0) break; }
    }
    if (t >= 0 && !queries_of_topic[t].empty()) qi = queries_of_topic[t][rng_.pick_cdf(topic_qcdf[t])];
    else qi = rng_.pick_cdf(global_cdf);
    auto& pool = pools[qi];
    if (pool.empty()) pool = make_pool(qi);
    scored.clear();
    for (auto [row, g] : pool) {
      const auto& d = w_.doc_truth[row];
      double s = 1.0 * g + 0.5 * d.quality + 1.0 * u.interest(d.topic) + 0.9 * rng_.normal();
      scored.push_back({s, {row, g}});
    }
    std::size_t n = std::min(page, scored.size());
    std::partial_sort(scored.begin(), scored.begin() + n, scored.end(),
                      [](auto& a, auto& b) { return a.first > b.first; });
    std::string rid = pad_id('r', r, requests);
    for (std::size_t pos = 0; pos < n && w_.impressions.size() < o_.impressions; ++pos) {
      auto [row, g] = scored[pos].second;
      w_.impressions.push_back(feedback(rid, qi, ui, row, g, static_cast<int>(pos)));
    }
    if (progress_ && ((r + 1) % 10000 == 0 || r + 1 == requests))
      progress_("impressions", w_.impressions.size(), o_.impressions);
  }
}

std::vector<std::pair<int, int>> Generator::make_pool(std::size_t qi) {
  std::vector<std::pair<int, int>> pool;
  std::unordered_set<int> in;
  const auto& rel = relevant_[qi];
  const auto& q = w_.query_truth[qi];
  auto add = [&](int row) {
    if (in.insert(row).second) pool.push_back({row, grade(q, w_.doc_truth[row])});
  };
  for (int k = 0; k < 40 && !rel.empty(); ++k) add(rel[rng_.below(rel.size())].first);
  const auto& same = docs_of_topic_[query_topic_[qi]];
  for (int k = 0; k < 30 && !same.empty(); ++k) add(same[rng_.below(same.size())]);
  for (int k = 0; k < 10; ++k) add(static_cast<int>(rng_.below(o_.docs)));
  return pool;
}

Impression Generator::feedback(const std::string& rid, std::size_t qi, std::size_t ui, int row, int g, int pos) {
  Impression im;
  im.request_id = rid;
  im.query_id = w_.queries[qi].id;
  im.user_id = pad_id('u', ui, o_.users);
  im.doc_id = w_.corpus.docs[row].id;
  im.position = pos;
  const bool short_video = w_.corpus.docs[row].category == "short";
  const UserFeedback f = user_feedback(users_[ui], w_.doc_truth[row], short_video, g, pos, rng_);
  im.click = f.click;
  im.watch = f.watch;
  im.finish = f.finish;
  im.like = f.like;
  im.share = f.share;
  im.follow = f.follow;
  return im;
}

}  // namespace funnel::gen
