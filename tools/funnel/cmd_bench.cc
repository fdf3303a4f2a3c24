// funnel bench prerank: serving-kernel speed against the machine's memory
// bandwidth and against batched libtorch ops, measured in the same run.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <algorithm>
#include <random>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "funnel/embedding_store.h"
#include "funnel/error.h"
#include "funnel/prerank_scorer.h"
#include "model/torch_baseline.h"
#include "util/rng.h"

namespace funnel::cli {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Read bandwidth of this machine now: sums a buffer much larger than the
// caches, several times, and keeps the best pass.
double measure_read_bandwidth(std::size_t bytes) {
  std::vector<float> buf(bytes / sizeof(float), 1.0f);
  double best = 0;
  volatile float sink = 0;
  for (int pass = 0; pass < 5; ++pass) {
    auto t0 = Clock::now();
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    const float* p = buf.data();
    const std::size_t n = buf.size();
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
      a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
      a4 += p[i + 4]; a5 += p[i + 5]; a6 += p[i + 6]; a7 += p[i + 7];
    }
    sink = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, static_cast<double>(bytes) / s);
  }
  (void)sink;
  return best;
}

}  // namespace

void add_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks, reported as ratios measured in the same run");
  bench->require_subcommand(1);
  auto* cmd = bench->add_subcommand("prerank", "Pre-rank scoring: kernels vs memory bandwidth vs libtorch");
  struct Args {
    std::size_t rows = 1000000, candidates = 10000, requests = 50;
    std::uint32_t dim = 64;
    std::string dir = "var/bench";
    bool json = false, resident = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--rows", a->rows, "Rows in the store")->capture_default_str()->check(CLI::Range(1000, 100000000));
  cmd->add_option("--candidates", a->candidates, "Candidates per request")->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--requests", a->requests, "Timed requests per row of the table")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--dim", a->dim, "Head dimension")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--dir", a->dir, "Scratch folder for the stores")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the rows as a JSON list");
  cmd->add_flag("--resident", a->resident, "Copy the store into huge-page memory instead of scoring from the file mapping");
  cmd->callback([a] {
    if (a->candidates > a->rows) throw Error("--candidates: at most --rows");
    const double bw = measure_read_bandwidth(std::size_t{1} << 30);
    std::fprintf(stderr, "bench: read bandwidth %.1f GB/s\n", bw / 1e9);
    nlohmann::json rows_out = nlohmann::json::array();
    detail::Rng rng(7);
    struct Setup {
      const char* matcher;
      std::uint32_t nq, nd;
    };
    for (Setup s : {Setup{"dot", 1, 1}, Setup{"soft_attention", 3, 3}}) {
      std::fprintf(stderr, "bench: generating %zu x %u x %u rows\n", a->rows, s.nd, a->dim);
      std::vector<float> vecs(a->rows * s.nd * a->dim);
      for (auto& x : vecs) x = static_cast<float>(rng.normal()) * 0.1f;
      std::vector<float> q(std::size_t{s.nq} * a->dim);
      for (auto& x : q) x = static_cast<float>(rng.normal()) * 0.1f;
      model::TorchScorerBaseline baseline(vecs, a->rows, s.nd, a->dim);
      for (Precision p : {Precision::kFp32, Precision::kFp16, Precision::kInt8}) {
        fs::path dir = fs::path(a->dir) / (std::string(s.matcher) + "-" + precision_name(p));
        std::error_code ec;
        fs::remove_all(dir, ec);
        publish_store_version(dir, {"bench", p, s.nd, a->dim}, vecs, a->rows);
        auto store = EmbeddingStore::open(dir, 0, false, a->resident);
        PrerankScorer scorer(store, {std::string(s.matcher) == "dot" ? Matcher::kDot : Matcher::kSoftAttention, 5.0f, false});
        std::vector<std::uint32_t> cand(a->candidates);
        std::vector<float> out(a->candidates);
        // Medians over the requests: this machine shares its cores, and a
        // mean would carry every stall of the host.
        std::vector<double> ours_t, torch_t;
        for (std::size_t r = 0; r < a->requests + 2; ++r) {
          for (auto& c : cand) c = static_cast<std::uint32_t>(rng.below(a->rows));
          auto t0 = Clock::now();
          scorer.score(q, s.nq, cand, out);
          auto t1 = Clock::now();
          baseline.score(s.matcher, 5.0f, q, s.nq, cand, out);
          auto t2 = Clock::now();
          if (r < 2) continue;  // warm-up
          ours_t.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
          torch_t.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
        }
        auto median = [](std::vector<double> v) {
          std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
          return v[v.size() / 2];
        };
        const double ours = median(ours_t), torch_us = median(torch_t);
        const double bytes = static_cast<double>(a->candidates) * static_cast<double>(store->row_bytes());
        const double limit_us = bytes / bw * 1e6;
        rows_out.push_back({{"matcher", s.matcher}, {"precision", precision_name(p)}, {"candidates", a->candidates},
                            {"rows", a->rows}, {"us_per_request", ours}, {"bandwidth_limit_us", limit_us},
                            {"libtorch_us", torch_us}, {"flops_per_pair", scorer.flops_per_pair(s.nq)},
                            {"kernel", scorer.kernel_name()}});
        fs::remove_all(dir, ec);
      }
    }
    if (a->json) {
      std::printf("%s\n", rows_out.dump(2).c_str());
      return;
    }
    std::printf("%-15s %-5s %10s %12s %12s %12s %9s %9s\n", "matcher", "prec", "cands", "us/request", "bw limit us",
                "libtorch us", "x limit", "x faster");
    for (const auto& r : rows_out)
      std::printf("%-15s %-5s %10zu %12.1f %12.1f %12.1f %9.2f %9.2f\n", r["matcher"].get<std::string>().c_str(),
                  r["precision"].get<std::string>().c_str(), r["candidates"].get<std::size_t>(),
                  r["us_per_request"].get<double>(), r["bandwidth_limit_us"].get<double>(),
                  r["libtorch_us"].get<double>(),
                  r["us_per_request"].get<double>() / r["bandwidth_limit_us"].get<double>(),
                  r["libtorch_us"].get<double>() / r["us_per_request"].get<double>());
  });
}

}  // namespace funnel::cli
