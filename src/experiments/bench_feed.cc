// `funnel bench feed`: a feed request (a user, no query) through the feed
// cascade, per stage and in total, against the recall stage alone measured
// in the same run.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "experiments/bench.h"
#include "feed/feed_model.h"
#include "feed/feed_stages.h"
#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "util/rng.h"

namespace funnel::experiments {
using nlohmann::json;

json bench_feed(const FeedBenchOptions& o) {
  json cfg = read_cascade_config(o.config);
  const std::string model_dir = o.model.empty() ? (std::filesystem::path(o.index) / "feed").string() : o.model;
  feed::pin_feed_config(cfg, model_dir, "test");
  const auto index = Index::open(o.index);
  const Pipeline pipeline(index, cfg, o.config);
  const auto model = feed::FeedModel::open(model_dir, LogPart::kTest);
  const FeedState& st = model->state();
  // Users with a history, in a seeded random order.
  std::vector<std::uint32_t> users;
  for (std::uint32_t u = 0; u < st.users(); ++u)
    if (!st.history(u).empty()) users.push_back(u);
  if (users.empty()) throw Error(model_dir + ": no user has a history");
  detail::Rng rng(o.seed);
  for (std::size_t i = users.size(); i > 1; --i) std::swap(users[i - 1], users[rng.below(i)]);
  auto request = [&](std::size_t n) {
    Request r;
    r.user_id = st.user_id(users[n % users.size()]);
    r.k = 10;
    return r;
  };
  for (std::size_t n = 0; n < std::min<std::size_t>(20, o.requests); ++n) pipeline.run(request(n));
  std::vector<double> total, recall_only;
  std::vector<std::vector<double>> stage_ms(pipeline.size());
  std::vector<double> in(pipeline.size(), 0), out(pipeline.size(), 0);
  for (std::size_t n = 0; n < o.requests; ++n) {
    const Request r = request(n);
    const auto t0 = std::chrono::steady_clock::now();
    const Response resp = pipeline.run(r);
    total.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    for (std::size_t s = 0; s < resp.trace.size(); ++s) {
      stage_ms[s].push_back(resp.trace[s].ms);
      in[s] += static_cast<double>(resp.trace[s].in);
      out[s] += static_cast<double>(resp.trace[s].out);
    }
    const auto t1 = std::chrono::steady_clock::now();
    pipeline.run_prefix(r, 1);
    recall_only.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count());
  }
  json stages = json::array();
  const auto names = pipeline.stage_names();
  const double nr = static_cast<double>(o.requests);
  for (std::size_t s = 0; s < pipeline.size(); ++s)
    stages.push_back({{"stage", names[s]}, {"in", in[s] / nr}, {"out", out[s] / nr}, {"p50_ms", median(stage_ms[s])},
                      {"p99_ms", p99(stage_ms[s])}});
  return {{"requests", o.requests}, {"users", users.size()}, {"p50_ms", median(total)}, {"p99_ms", p99(total)},
          {"recall_only_p50_ms", median(recall_only)},
          {"full_vs_recall_only_p50", median(total) / std::max(1e-9, median(recall_only))}, {"stages", stages}};
}

std::string feed_bench_table(const json& r) {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%zu feed requests over %zu users: p50 %.2f ms, p99 %.2f ms (recall alone p50 %.2f ms, x%.1f)\n",
                r["requests"].get<std::size_t>(), r["users"].get<std::size_t>(), r["p50_ms"].get<double>(),
                r["p99_ms"].get<double>(), r["recall_only_p50_ms"].get<double>(),
                r["full_vs_recall_only_p50"].get<double>());
  out += buf;
  std::snprintf(buf, sizeof buf, "%-10s %9s %9s %9s %9s\n", "stage", "in", "out", "p50 ms", "p99 ms");
  out += buf;
  for (const auto& s : r["stages"]) {
    std::snprintf(buf, sizeof buf, "%-10s %9.0f %9.0f %9.3f %9.3f\n", s["stage"].get<std::string>().c_str(),
                  s["in"].get<double>(), s["out"].get<double>(), s["p50_ms"].get<double>(), s["p99_ms"].get<double>());
    out += buf;
  }
  return out;
}

}  // namespace funnel::experiments
