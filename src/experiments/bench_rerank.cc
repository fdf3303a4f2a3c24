// `funnel bench rerank` (bench.h): the re-rank stage's algorithms per
// request, against their straightforward versions measured in the same run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "experiments/bench.h"
#include "funnel/error.h"
#include "funnel/fusion.h"
#include "fusion/formulas.h"
#include "rerank/dpp.h"
#include "util/rng.h"

namespace funnel::experiments {
namespace {
using Clock = std::chrono::steady_clock;

// The upper median, as median() in bench_prerank.cc (not linked here, so
// that this driver also builds without libtorch).
double median_of(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// One request's candidates: Gaussian vectors and scores.
struct Request {
  std::vector<float> scores, vectors;
};

std::vector<Request> make_requests(std::size_t count, std::size_t candidates, std::size_t dim, std::uint64_t seed) {
  detail::Rng rng(seed);
  std::vector<Request> out(count);
  for (auto& r : out) {
    r.scores.resize(candidates);
    r.vectors.resize(candidates * dim);
    for (auto& s : r.scores) s = static_cast<float>(rng.normal());
    for (auto& v : r.vectors) v = static_cast<float>(rng.normal());
  }
  return out;
}

// Median microseconds per call of f(request), cycling through the requests,
// for at least `seconds` and `repeats` calls (one call at least).
template <class F>
double time_per_request(const std::vector<Request>& requests, double seconds, std::size_t repeats, F f) {
  std::vector<double> us;
  const auto start = Clock::now();
  for (std::size_t i = 0;; ++i) {
    const auto t0 = Clock::now();
    f(requests[i % requests.size()]);
    const auto t1 = Clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (us.size() >= repeats && std::chrono::duration<double>(t1 - start).count() >= seconds) break;
  }
  return median_of(us);
}

// The DPP row: the fast greedy and the naive one on the same requests; every
// request's fast picks are checked against the naive ones first.
RerankBenchRow bench_dpp(const BenchRerankOptions& o, const char* name, std::size_t candidates, std::size_t select,
                         std::size_t dim, std::size_t window) {
  // A few different requests, so that no single list's cache footprint or
  // branch pattern flatters the timing.
  const auto requests = make_requests(4, candidates, dim, o.seed + candidates * 131 + window);
  rerank::DppOptions options;
  options.window = window;
  const auto items = [dim](const Request& r) {
    rerank::DppItems it;
    it.scores = r.scores;
    it.vectors = r.vectors;
    it.dim = dim;
    return it;
  };
  std::vector<double> naive_us;
  for (const auto& r : requests) {
    const auto t0 = Clock::now();
    const auto naive = rerank::dpp_select_naive(items(r), select, options);
    naive_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (rerank::dpp_select(items(r), select, options).picks != naive.picks)
      throw Error(std::string("bench rerank: ") + name + ": the fast DPP's picks differ from the naive greedy's");
    if (std::accumulate(naive_us.begin(), naive_us.end(), 0.0) >= o.naive_seconds * 1e6) break;
  }
  std::size_t sink = 0;
  RerankBenchRow row;
  row.name = name;
  row.candidates = candidates;
  row.select = select;
  row.dim = dim;
  row.us_per_request = time_per_request(requests, o.min_seconds, o.min_repeats, [&](const Request& r) {
    sink += rerank::dpp_select(items(r), select, options).picks[0];
  });
  row.naive_us = median_of(naive_us);
  if (sink == static_cast<std::size_t>(-1)) std::fprintf(stderr, "%zu\n", sink);  // keeps the calls
  return row;
}

// The fusion rows: one request's 500 candidates x 7 inputs (score and six
// pXtr) combined by the formula (weighted sum) or ensemble sort, then
// ordered by the cascade's tie-break, as the fusion stage does.
RerankBenchRow bench_fusion(const BenchRerankOptions& o, const char* name, bool ensemble) {
  const std::size_t n = 500, m = 7;
  const auto requests = make_requests(4, n, m, o.seed + (ensemble ? 7 : 3));
  const std::vector<double> w = {1.0, 0.5, 2.0, 0.3, 1.0, 0.2, 0.7};
  std::vector<std::uint32_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0u);
  std::size_t sink = 0;
  RerankBenchRow row;
  row.name = name;
  row.candidates = n;
  row.select = n;
  row.dim = m;
  row.us_per_request = time_per_request(requests, o.min_seconds, o.min_repeats, [&](const Request& r) {
    std::vector<double> out(n);
    if (ensemble) fusion::ensemble_sort(r.vectors, m, w, fusion::RankTransform::kReciprocal, 60, out);
    else fusion::weighted_sum(r.vectors, m, w, out);
    std::vector<std::uint32_t> order = rows;
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return ranks_before(out[a], a, out[b], b); });
    sink += order[0];
  });
  if (sink == static_cast<std::size_t>(-1)) std::fprintf(stderr, "%zu\n", sink);
  return row;
}

}  // namespace

std::vector<RerankBenchRow> bench_rerank(const BenchRerankOptions& o) {
  if (!(o.min_seconds >= 0) || !(o.naive_seconds >= 0)) throw Error("bench rerank: times must be >= 0 seconds");
  std::vector<RerankBenchRow> rows;
  rows.push_back(bench_dpp(o, "dpp", 500, 50, 64, 0));
  rows.push_back(bench_dpp(o, "dpp", 1000, 100, 128, 0));
  rows.push_back(bench_dpp(o, "dpp_window", 500, 50, 64, 10));
  rows.push_back(bench_fusion(o, "fusion_formula", false));
  rows.push_back(bench_fusion(o, "fusion_ensemble_sort", true));
  return rows;
}

nlohmann::json rerank_bench_json(const std::vector<RerankBenchRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows)
    out.push_back({{"case", r.name},
                   {"candidates", r.candidates},
                   {"select", r.select},
                   {"dim", r.dim},
                   {"us_per_request", r.us_per_request},
                   {"naive_us", r.naive_us ? nlohmann::json(*r.naive_us) : nlohmann::json(nullptr)}});
  return out;
}

std::string rerank_bench_table(const std::vector<RerankBenchRow>& rows) {
  std::string out =
      "| case | candidates | select | dim | us/request | naive us/request | speed-up |\n"
      "|---|---:|---:|---:|---:|---:|---:|\n";
  char buf[256];
  for (const auto& r : rows) {
    char naive[32] = "-", ratio[32] = "-";
    if (r.naive_us) {
      std::snprintf(naive, sizeof naive, "%.0f", *r.naive_us);
      std::snprintf(ratio, sizeof ratio, "%.0fx", *r.naive_us / r.us_per_request);
    }
    std::snprintf(buf, sizeof buf, "| %s | %zu | %zu | %zu | %.1f | %s | %s |\n", r.name.c_str(), r.candidates,
                  r.select, r.dim, r.us_per_request, naive, ratio);
    out += buf;
  }
  return out;
}

}  // namespace funnel::experiments
