#include "feed/feed_eval.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <cstdio>

#include "funnel/error.h"
#include "funnel/metrics.h"
#include "util/rng.h"

namespace funnel::feed {
using nlohmann::json;

namespace {

constexpr std::size_t kCuts[] = {10, 50, 100, 500};

// Adds one user's metrics of `ranked` (best first) to `sum`.
void add_list(std::map<std::string, double>& sum, const std::vector<std::string>& ranked,
              const metrics::Judgments& judged) {
  for (std::size_t k : kCuts) {
    const double r = metrics::recall_at_k(ranked, judged, k);
    sum["recall@" + std::to_string(k)] += r;
    sum["hitrate@" + std::to_string(k)] += r > 0 ? 1.0 : 0.0;
  }
  sum["ndcg@10"] += metrics::ndcg_at_k(ranked, judged, 10);
}

std::vector<std::string> ids_of(const Corpus& corpus, const std::vector<std::uint32_t>& rows, std::size_t depth) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < rows.size() && i < depth; ++i) out.push_back(corpus.docs[rows[i]].id);
  return out;
}

std::vector<std::uint32_t> rows_of(const std::vector<Candidate>& c) {
  std::vector<std::uint32_t> r;
  for (const auto& x : c) r.push_back(x.row);
  return r;
}

std::vector<std::uint32_t> rows_of(const std::vector<RecallHit>& h) {
  std::vector<std::uint32_t> r;
  for (const auto& x : h) r.push_back(x.row);
  return r;
}

json metrics_json(const ListMetrics& m) {
  json j = json::object();
  for (auto& [k, v] : m.values) j[k] = v;
  return j;
}

}  // namespace

FeedEvalReport evaluate_feed(const Pipeline& pipeline, const FeedModel& model, const FeedEvalOptions& o,
                             const std::function<void(std::size_t, std::size_t)>& progress) {
  const FeedState& st = model.state();
  const FeedLog& fl = model.data().log;
  const Interactions& L = fl.log;
  const Corpus& corpus = model.data().corpus;
  if (st.as_of() != LogPart::kDev) throw Error("the feed evaluation reads a model opened as of the dev part");

  // The recall stage and its channels; the rank stage, if any.
  std::size_t recall_at = pipeline.size(), rank_at = pipeline.size();
  for (std::size_t s = 0; s < pipeline.size(); ++s) {
    if (pipeline.stage_role(s) == StageRole::kRecall && recall_at == pipeline.size()) recall_at = s;
    if (pipeline.stage_role(s) == StageRole::kRank && rank_at == pipeline.size()) rank_at = s;
  }
  if (recall_at == pipeline.size()) throw Error("the feed cascade has no recall stage");
  const std::string recall_name = pipeline.stage_names()[recall_at];
  std::vector<std::string> channels;
  const json recall_info = pipeline.stage_info(recall_at);  // kept: the loop reads into it
  for (const auto& c : recall_info.at("channels")) channels.push_back(c.get<std::string>());

  // Targets: per test user, item -> grade, without excluded items.
  std::map<std::uint32_t, metrics::Judgments> targets;
  for (std::size_t i = 0; i < L.rows.size(); ++i) {
    if (fl.part[i] != LogPart::kTest) continue;
    const float g = fl.grade(i);
    if (g <= 0 || st.excluded(L.rows[i].user, L.rows[i].item)) continue;
    int& grade = targets[L.rows[i].user][corpus.docs[L.rows[i].item].id];
    grade = std::max(grade, std::max(1, static_cast<int>(std::lround(g))));
  }
  std::vector<std::uint32_t> users;
  for (auto& [u, t] : targets) users.push_back(u);
  if (o.max_users > 0 && users.size() > o.max_users) {
    detail::Rng rng(o.seed);
    for (std::size_t i = 0; i < o.max_users; ++i) std::swap(users[i], users[i + rng.below(users.size() - i)]);
    users.resize(o.max_users);
    std::sort(users.begin(), users.end());
  }
  if (users.empty()) throw Error("no user engaged with anything on the test part");

  // Popularity order (the baseline): users who engaged, as of dev.
  std::vector<std::uint32_t> popular(corpus.docs.size());
  std::iota(popular.begin(), popular.end(), 0u);
  std::stable_sort(popular.begin(), popular.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return st.item_users(a) > st.item_users(b); });

  // Head items: the most engaged ones that hold half of all engagement.
  std::unordered_set<std::uint32_t> head;
  {
    double total = 0, acc = 0;
    for (std::uint32_t r : popular) total += static_cast<double>(st.item_users(r));
    for (std::uint32_t r : popular) {
      if (acc >= total / 2 || st.item_users(r) == 0) break;
      head.insert(r);
      acc += static_cast<double>(st.item_users(r));
    }
  }

  FeedEvalReport rep;
  rep.users = users.size();
  std::map<std::string, std::map<std::string, double>> ch_sum, base_sum;
  std::map<std::string, double> merged_sum, final_sum;
  std::unordered_set<std::uint32_t> shown;
  std::size_t slots = 0, tail_slots = 0;
  for (std::size_t n = 0; n < users.size(); ++n) {
    const std::uint32_t u = users[n];
    const auto& judged = targets[u];
    Request req;
    req.user_id = st.user_id(u);
    req.k = 10;
    for (const auto& c : channels) {
      Request one = req;
      json q = json::object();
      for (const auto& other : channels) q[other] = other == c ? o.depth : 0;
      one.overrides[recall_name] = {{"quota", q}};
      add_list(ch_sum[c], ids_of(corpus, rows_of(pipeline.run_prefix(one, recall_at + 1)), o.depth), judged);
    }
    add_list(merged_sum, ids_of(corpus, rows_of(pipeline.run_prefix(req, recall_at + 1)), o.depth), judged);
    const Response resp = pipeline.run(req);
    std::vector<std::string> fin;
    for (const auto& it : resp.items) {
      fin.push_back(it.doc_id);
      shown.insert(it.row);
      ++slots;
      tail_slots += head.count(it.row) ? 0 : 1;
    }
    add_list(final_sum, fin, judged);
    std::vector<std::uint32_t> pop;
    for (std::uint32_t r : popular) {
      if (pop.size() >= o.depth) break;
      if (!st.excluded(u, r)) pop.push_back(r);
    }
    add_list(base_sum["popularity"], ids_of(corpus, pop, o.depth), judged);
    add_list(base_sum["item_cf"], ids_of(corpus, rows_of(feed_channel_hits(st, "item2item", u, o.depth)), o.depth),
             judged);
    if (progress && ((n + 1) % 200 == 0 || n + 1 == users.size())) progress(n + 1, users.size());
  }
  const double nu = static_cast<double>(users.size());
  auto mean = [&](const std::map<std::string, double>& s) {
    ListMetrics m;
    for (auto& [k, v] : s) m.values[k] = v / nu;
    return m;
  };
  for (auto& [c, s] : ch_sum) rep.channels[c] = mean(s);
  for (auto& [c, s] : base_sum) rep.baselines[c] = mean(s);
  rep.merged = mean(merged_sum);
  rep.final_list = mean(final_sum);
  rep.coverage = static_cast<double>(shown.size()) / static_cast<double>(corpus.docs.size());
  rep.long_tail_share = slots ? static_cast<double>(tail_slots) / static_cast<double>(slots) : 0;

  // The ranker on the logged test rows: AUC of its main score on the signal.
  if (rank_at < pipeline.size()) {
    int sig = o.auc_signal.empty() ? -1 : L.signal_index(o.auc_signal);
    if (!o.auc_signal.empty() && sig < 0) throw Error("no signal '" + o.auc_signal + "' in the feed log");
    if (sig < 0) {
      const auto info = pipeline.stage_info(rank_at);
      if (info.contains("heads") && !info["heads"].empty()) sig = L.signal_index(info["heads"][0].get<std::string>());
    }
    std::map<std::uint32_t, std::vector<std::pair<std::uint32_t, float>>> logged;
    std::unordered_set<std::uint32_t> sample(users.begin(), users.end());
    for (std::size_t i = 0; sig >= 0 && i < L.rows.size(); ++i)
      if (fl.part[i] == LogPart::kTest && sample.count(L.rows[i].user))
        logged[L.rows[i].user].push_back({L.rows[i].item, L.signal(i, static_cast<std::size_t>(sig)) > 0 ? 1.0f : 0.0f});
    std::vector<float> scores, labels;
    std::vector<std::uint64_t> groups;
    for (auto& [u, rows] : logged) {
      Request req;
      req.user_id = st.user_id(u);
      std::vector<std::uint32_t> items;
      for (auto& [item, y] : rows) items.push_back(item);
      const auto scored = pipeline.score_candidates(rank_at, req, items);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        scores.push_back(static_cast<float>(scored[i].score));
        labels.push_back(rows[i].second);
        groups.push_back(u);
      }
    }
    rep.auc_rows = scores.size();
    if (!scores.empty()) {
      rep.auc = metrics::auc(scores, labels);
      rep.gauc = metrics::gauc(scores, labels, groups);
      std::unordered_map<std::uint64_t, std::pair<bool, bool>> cls;
      for (std::size_t i = 0; i < groups.size(); ++i) (labels[i] > 0 ? cls[groups[i]].first : cls[groups[i]].second) = true;
      for (auto& [g, c] : cls) rep.gauc_users += c.first && c.second;
    }
  }
  return rep;
}

json FeedEvalReport::to_json() const {
  json ch = json::object(), base = json::object();
  for (auto& [c, m] : channels) ch[c] = metrics_json(m);
  for (auto& [c, m] : baselines) base[c] = metrics_json(m);
  auto num = [](double x) { return std::isnan(x) ? json(nullptr) : json(x); };
  return {{"users", users},
          {"channels", ch},
          {"merged", metrics_json(merged)},
          {"final", metrics_json(final_list)},
          {"baselines", base},
          {"ranker", {{"auc", num(auc)}, {"gauc", num(gauc)}, {"rows", auc_rows}, {"gauc_users", gauc_users}}},
          {"coverage", coverage},
          {"long_tail_share", long_tail_share}};
}

std::string FeedEvalReport::to_table() const {
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%zu test users\n%-22s %8s %8s %8s %8s %8s %8s %8s\n", users, "list", "HR@10", "R@10",
                "R@50", "R@100", "R@500", "HR@100", "nDCG@10");
  out += buf;
  auto row = [&](const std::string& name, const ListMetrics& m) {
    auto v = [&](const char* k) { auto it = m.values.find(k); return it == m.values.end() ? NAN : it->second; };
    std::snprintf(buf, sizeof buf, "%-22s %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f\n", name.c_str(), v("hitrate@10"),
                  v("recall@10"), v("recall@50"), v("recall@100"), v("recall@500"), v("hitrate@100"), v("ndcg@10"));
    out += buf;
  };
  for (auto& [c, m] : channels) row("channel " + c, m);
  row("merged recall", merged);
  row("final (cascade)", final_list);
  for (auto& [c, m] : baselines) row("baseline " + c, m);
  std::snprintf(buf, sizeof buf,
                "ranker AUC %.4f, GAUC %.4f (%zu logged test rows, %zu users with both classes)\n"
                "coverage %.4f of the items, long-tail share %.4f of the final slots\n",
                auc, gauc, auc_rows, gauc_users, coverage, long_tail_share);
  out += buf;
  return out;
}

}  // namespace funnel::feed
