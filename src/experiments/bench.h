// The benchmarks behind `funnel bench`: each measures one serving path and
// reports it against a baseline measured in the same run (the machine's
// read bandwidth, libtorch, the pre-rank scorer, exact search), as JSON
// that the CLI prints as a table. Speeds are never asserted in tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace funnel::experiments {

// Read bandwidth of this machine now, in bytes/s: sums a buffer much larger
// than the caches, `passes` times, and keeps the best pass.
double measure_read_bandwidth(std::size_t bytes, int passes = 5);

// Median (the upper one for an even count) and nearest-rank p99 of a
// non-empty sample.
double median(std::vector<double> v);
double p99(std::vector<double> v);

// "50,100,200" -> {50, 100, 200}; each in 1..1000000. Throws funnel::Error
// naming `option`.
std::vector<std::size_t> parse_sizes(const std::string& text, const std::string& option);

// Pre-rank scoring: `candidates` random rows of a store of `rows` random
// vectors, per matcher (dot 1x1, soft_attention 3x3, esim 3x3) and
// precision, against the read-bandwidth limit and batched libtorch ops.
// Every timed request also checks our fp32 scores against libtorch's and
// throws funnel::Error beyond 1e-3.
struct PrerankBenchOptions {
  std::size_t rows = 1000000, candidates = 10000, requests = 50;
  std::uint32_t dim = 64;
  std::string dir = "var/bench";  // scratch folder for the stores (removed after)
  bool resident = false;          // score from huge-page memory instead of the file mapping
};
// [{"matcher", "precision", "candidates", "rows", "us_per_request",
//   "bandwidth_limit_us", "gather_limit_us" (the same rows copied in the same
//   order, prefetched: the floor for scattered rows), "libtorch_us",
//   "flops_per_pair", "kernel",
//   "max_abs_diff_vs_libtorch"}]
nlohmann::json bench_prerank(const PrerankBenchOptions& o);
std::string prerank_bench_table(const nlohmann::json& rows);

// ANN recall@k against exact search over the same vectors, and queries/s.
struct RecallBenchOptions {
  std::string index, data;
  std::size_t k = 100, queries = 200;
  int ef_search = 128;
};
nlohmann::json bench_recall(const RecallBenchOptions& o);
std::string recall_bench_text(const nlohmann::json& r);

// The cross ranker per request at each candidate count, with and without
// its cross features, against the pre-rank scorer on the same candidates.
struct RankBenchOptions {
  std::string models, data;  // data: the folder the ranker was trained on ("" = MODELS/rank/data.json's)
  std::vector<std::size_t> sizes{50, 100, 200};
  std::size_t requests = 50;
  std::uint64_t seed = 7;
  int threads = 1;
};
nlohmann::json bench_rank(const RankBenchOptions& o);
std::string rank_bench_table(const nlohmann::json& r);

// The HTTP service against the engine in-process (bench_serve.cc): per
// cascade config and server thread count, closed-loop q/s both ways, then
// p50/p99 of an open-loop load at half the HTTP q/s. Loopback only.
struct ServeBenchOptions {
  std::string index, data;                // data: the folder whose queries.jsonl is replayed
  std::vector<std::string> configs;       // cascade config files
  std::vector<std::size_t> threads{1, 2};
  std::size_t requests = 400, queries = 200;
};
// [{"cascade", "threads", "in_process_qps", "http_qps", "http_vs_in_process",
//   "load_qps", "p50_ms", "p99_ms", "errors", "requests"}]
nlohmann::json bench_serve(const ServeBenchOptions& o);
std::string serve_bench_table(const nlohmann::json& rows);

// Re-rank (src/rerank/): the fast greedy DPP per request on random Gaussian
// vectors and scores, similarity included (normalisation, kernel rows),
// against the naive greedy on the same requests (each request's picks are
// checked equal first; funnel::Error otherwise). Rows: "dpp" 50 of 500 at
// dim 64 and 100 of 1000 at dim 128, "dpp_window" (window 10) 50 of 500.
struct BenchRerankOptions {
  std::uint64_t seed = 7;        // of the random requests
  double min_seconds = 0.5;      // per row: time the fast algorithm at least this long...
  std::size_t min_repeats = 50;  // ...and for at least this many requests (median reported)
  double naive_seconds = 1.0;    // per row: stop timing the naive algorithm after this (one request at least)
};
struct RerankBenchRow {
  std::string name;  // "case": "dpp", "dpp_window", "fusion_formula", "fusion_ensemble_sort"
  std::size_t candidates = 0, select = 0, dim = 0;
  double us_per_request = 0;       // median
  std::optional<double> naive_us;  // median of the straightforward version; none without one
};
std::vector<RerankBenchRow> bench_rerank(const BenchRerankOptions& o);
// [{"case", "candidates", "select", "dim", "us_per_request", "naive_us" (or null)}]
nlohmann::json rerank_bench_json(const std::vector<RerankBenchRow>& rows);
// A markdown table with the speed-up over the naive version.
std::string rerank_bench_table(const std::vector<RerankBenchRow>& rows);

// A feed request (a user, no query) through a feed cascade (bench_feed.cc):
// p50/p99 in total and per stage, with the candidates in and out of each,
// against the recall stage alone in the same run. Users with a history,
// seeded order; the model as of the whole log (serving).
struct FeedBenchOptions {
  std::string index, model, config;  // model: "" = INDEX/feed
  std::size_t requests = 500;
  std::uint64_t seed = 7;
};
// {"requests", "users", "p50_ms", "p99_ms", "recall_only_p50_ms",
//  "full_vs_recall_only_p50", "stages": [{"stage", "in", "out", "p50_ms", "p99_ms"}]}
nlohmann::json bench_feed(const FeedBenchOptions& o);
std::string feed_bench_table(const nlohmann::json& r);

}  // namespace funnel::experiments
