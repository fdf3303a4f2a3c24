#include "feed/feed_rank_train.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "feed/feed_features.h"
#include "funnel/error.h"
#include "util/rng.h"

namespace funnel::feed {

std::vector<std::uint32_t> feed_training_candidates(const FeedModel& model, std::uint32_t user, std::size_t quota) {
  std::vector<std::uint32_t> out;
  std::unordered_set<std::uint32_t> seen;
  auto add = [&](const std::vector<RecallHit>& hits) {
    for (const auto& h : hits)
      if (seen.insert(h.row).second) out.push_back(h.row);
  };
  for (const char* ch : feed_state_channels()) add(feed_channel_hits(model.state(), ch, user, quota));
  add(model.user_ann(user, quota));
  return out;
}

FeedRankResult train_feed_ranker(const FeedModel& model, const FeedRankOptions& o,
                                 const std::function<void(const std::string&)>& log) {
  const FeedState& st = model.state();
  const FeedLog& fl = model.data().log;
  const Interactions& L = fl.log;
  if (st.as_of() != LogPart::kTrain) throw Error("the feed ranker trains on a model opened as of the training part");
  // Dev labels: per user, item -> summed signals.
  std::map<std::uint32_t, std::unordered_map<std::uint32_t, std::vector<float>>> dev;
  for (std::size_t i = 0; i < L.rows.size(); ++i) {
    if (fl.part[i] != LogPart::kDev) continue;
    auto& v = dev[L.rows[i].user][L.rows[i].item];
    if (v.empty()) v.assign(L.n_signals(), 0.0f);
    for (std::size_t s = 0; s < L.n_signals(); ++s) v[s] += L.signal(i, s);
  }
  std::vector<int> head_signal;
  for (auto& [name, w] : fl.grade_weights)
    if (w > 0) head_signal.push_back(L.signal_index(name));
  if (head_signal.empty()) throw Error("the feed log's grade has no signal with a positive weight");

  const std::size_t F = feed_feature_names().size(), H = head_signal.size();
  std::vector<float> x, y;  // rows x F; rows x H
  std::vector<std::uint32_t> row_user;
  detail::Rng rng(o.seed);
  std::size_t users = 0;
  for (auto& [user, items] : dev) {
    bool engaged = false;
    for (auto& [item, sig] : items)
      for (int s : head_signal) engaged = engaged || sig[static_cast<std::size_t>(s)] > 0;
    if (!engaged) continue;
    // Only what the channels recall: the rows then look like what the rank
    // stage sees when serving (engaged items no channel found would teach
    // it the features of the logging policy's choices instead).
    std::vector<std::uint32_t> cands = feed_training_candidates(model, user, o.quota);
    // Keep labelled items and a sample of the rest.
    std::vector<std::uint32_t> keep, rest;
    for (std::uint32_t c : cands) (items.count(c) ? keep : rest).push_back(c);
    for (std::size_t i = 0; i < rest.size() && i < o.negatives; ++i) {
      const std::size_t j = i + rng.below(rest.size() - i);
      std::swap(rest[i], rest[j]);
      keep.push_back(rest[i]);
    }
    bool recalled_positive = false;
    for (std::uint32_t item : keep) {
      auto it = items.find(item);
      for (int s : head_signal)
        recalled_positive = recalled_positive || (it != items.end() && it->second[static_cast<std::size_t>(s)] > 0);
    }
    if (!recalled_positive) continue;  // nothing to learn from this user's list
    ++users;
    const std::vector<float> fx = feed_features(model, user, keep);
    x.insert(x.end(), fx.begin(), fx.end());
    for (std::uint32_t item : keep) {
      auto it = items.find(item);
      for (int s : head_signal) y.push_back(it != items.end() && it->second[static_cast<std::size_t>(s)] > 0 ? 1.0f : 0.0f);
      row_user.push_back(user);
    }
  }
  const std::size_t rows = row_user.size();
  if (rows == 0) throw Error("no dev user has an engagement: nothing to train the feed ranker on");
  if (log) log("feed ranker: " + std::to_string(rows) + " rows from " + std::to_string(users) + " dev users");

  // Validation: every 10th user (by a hash of the row), for early stopping.
  FeedRankResult res;
  res.rows = rows;
  res.users = users;
  for (std::size_t h = 0; h < H; ++h) {
    std::vector<float> xt, yt, xv, yv;
    std::size_t pos = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      const bool valid = (row_user[r] * 2654435761u) % 10 == 0;
      auto& X = valid ? xv : xt;
      auto& Y = valid ? yv : yt;
      X.insert(X.end(), x.begin() + static_cast<std::ptrdiff_t>(r * F), x.begin() + static_cast<std::ptrdiff_t>((r + 1) * F));
      Y.push_back(y[r * H + h]);
      pos += y[r * H + h] > 0;
    }
    const std::string name = fl.grade_weights.empty() ? "" : L.signal_names[static_cast<std::size_t>(head_signal[h])];
    if (pos < o.min_positives || yt.empty() || yv.empty()) {
      if (log) log("feed ranker: head '" + name + "' skipped (" + std::to_string(pos) + " positives)");
      continue;
    }
    fusion::GbdtParams p;
    p.rounds = o.rounds;
    p.seed = o.seed;
    p.threads = o.threads;
    p.max_depth = 6;
    p.eta = 0.1;
    fusion::GbdtData dt{xt, yt.size(), F, yt, {}, {}}, dv{xv, yv.size(), F, yv, {}, {}};
    auto m = fusion::GbdtModel::train(dt, &dv, feed_feature_names(), p);
    if (log) log("feed ranker: head '" + name + "': " + std::to_string(pos) + " positives, " +
                 std::to_string(m.best_iteration() + 1) + " rounds");
    res.heads.push_back(name);
    res.positives.push_back(pos);
    res.importance.push_back(m.importance());
    res.models.push_back(std::move(m));
  }
  if (res.heads.empty()) throw Error("no head of the feed ranker has enough positive rows on dev");
  return res;
}

}  // namespace funnel::feed
