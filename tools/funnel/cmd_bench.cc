// funnel bench prerank: serving-kernel speed against the machine's memory
// bandwidth and against batched libtorch ops, measured in the same run.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <algorithm>
#include <random>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "funnel/embedding_store.h"
#include "funnel/error.h"
#include "funnel/prerank_scorer.h"
#include "funnel/ann.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "model/prerank_model.h"
#include "model/torch_baseline.h"
#include "pipeline/config_util.h"
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

void add_bench_recall(CLI::App& bench);
void add_bench_rank(CLI::App& bench);  // bench_rank.cc

void add_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks, reported as ratios measured in the same run");
  bench->require_subcommand(1);
  add_bench_recall(*bench);
  add_bench_rank(*bench);
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
    // esim's layer: random weights of the trained shape (projection 32);
    // its speed does not depend on their values.
    auto esim = std::make_shared<EsimWeights>();
    {
      const std::uint32_t P = 32;
      esim->dim = a->dim;
      esim->proj = P;
      auto fill = [&](std::vector<float>& v, std::size_t n, double sd) {
        v.resize(n);
        for (auto& x : v) x = static_cast<float>(rng.normal() * sd);
      };
      fill(esim->enhance_w, std::size_t{P} * 4 * a->dim, 0.1);
      fill(esim->enhance_b, P, 0.1);
      fill(esim->hidden_w, std::size_t{P} * 4 * P, 0.1);
      fill(esim->hidden_b, P, 0.1);
      fill(esim->out_w, P, 0.1);
    }
    for (Setup s : {Setup{"dot", 1, 1}, Setup{"soft_attention", 3, 3}, Setup{"esim", 3, 3}}) {
      std::fprintf(stderr, "bench: generating %zu x %u x %u rows\n", a->rows, s.nd, a->dim);
      std::vector<float> vecs(a->rows * s.nd * a->dim);
      for (auto& x : vecs) x = static_cast<float>(rng.normal()) * 0.1f;
      std::vector<float> q(std::size_t{s.nq} * a->dim);
      for (auto& x : q) x = static_cast<float>(rng.normal()) * 0.1f;
      model::TorchScorerBaseline baseline(vecs, a->rows, s.nd, a->dim);
      baseline.set_esim(*esim);
      for (Precision p : {Precision::kFp32, Precision::kFp16, Precision::kInt8}) {
        fs::path dir = fs::path(a->dir) / (std::string(s.matcher) + "-" + precision_name(p));
        std::error_code ec;
        fs::remove_all(dir, ec);
        publish_store_version(dir, {"bench", p, s.nd, a->dim}, vecs, a->rows);
        auto store = EmbeddingStore::open(dir, 0, false, a->resident);
        PrerankScorer scorer(store, {parse_matcher(s.matcher, "bench"), 5.0f, false, esim});
        std::vector<std::uint32_t> cand(a->candidates);
        std::vector<float> out(a->candidates);
        // Medians over the requests: this machine shares its cores, and a
        // mean would carry every stall of the host.
        std::vector<double> ours_t, torch_t;
        std::vector<float> check(a->candidates);
        double max_diff = 0;  // ours vs libtorch on every timed request, as a sanity check
        for (std::size_t r = 0; r < a->requests + 2; ++r) {
          for (auto& c : cand) c = static_cast<std::uint32_t>(rng.below(a->rows));
          auto t0 = Clock::now();
          scorer.score(q, s.nq, cand, out);
          auto t1 = Clock::now();
          baseline.score(s.matcher, 5.0f, q, s.nq, cand, check);
          auto t2 = Clock::now();
          if (p == Precision::kFp32)
            for (std::size_t i = 0; i < out.size(); ++i)
              max_diff = std::max(max_diff, static_cast<double>(std::fabs(out[i] - check[i])));
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
                            {"kernel", scorer.kernel_name()},
                            {"max_abs_diff_vs_libtorch", p == Precision::kFp32 ? nlohmann::json(max_diff) : nlohmann::json()}});
        if (p == Precision::kFp32 && max_diff > 1e-3)
          throw Error(std::string("bench prerank: ") + s.matcher + " scores differ from libtorch by " +
                      std::to_string(max_diff));
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

void add_bench_recall(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("recall", "ANN recall@k against exact search over the same vectors, and queries/s");
  struct Args {
    std::string index, data;
    std::size_t k = 100, queries = 200;
    int ef_search = 128;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--index", a->index, "Index built with --models")->required();
  cmd->add_option("--data", a->data, "Data folder with queries.jsonl")->required();
  cmd->add_option("--k", a->k, "Neighbours")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--queries", a->queries, "Queries to run")->capture_default_str()->check(CLI::Range(1, 1000000));
  cmd->add_option("--ef-search", a->ef_search, "HNSW query beam")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->callback([a] {
    auto index = Index::open(a->index);
    if (!index->embeddings()) throw Error(a->index + ": no embeddings (build the index with --models)");
    auto factory = detail_find_channel_factory("ann");
    if (!factory) throw Error("bench recall: the ann channel type is not registered");
    auto ann = factory(*index, {{"type", "ann"}, {"ef_search", a->ef_search}}, "bench recall");
    auto model = model::PrerankModel::load(index->models_dir());
    auto queries = read_queries(std::filesystem::path(a->data) / "queries.jsonl");
    const std::size_t n = std::min(a->queries, queries.size());
    double found = 0, ann_s = 0, exact_s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      auto t0 = Clock::now();
      auto hits = ann->search(queries[i].text, a->k);  // includes the query tower
      auto t1 = Clock::now();
      auto q = model->encode_queries({queries[i].text});
      auto t2 = Clock::now();
      auto exact = exact_top_k(*index->embeddings(), q, static_cast<std::uint32_t>(model->config().nq), a->k);
      auto t3 = Clock::now();
      std::unordered_set<std::uint32_t> got;
      for (const auto& h : hits) got.insert(h.row);
      for (auto row : exact) found += got.count(row);
      ann_s += std::chrono::duration<double>(t1 - t0).count();
      exact_s += std::chrono::duration<double>(t3 - t2).count();
    }
    const double recall = found / static_cast<double>(n * std::min(a->k, index->size()));
    nlohmann::json j = {{"k", a->k}, {"queries", n}, {"recall", recall}, {"ef_search", a->ef_search},
                        {"ann_qps", static_cast<double>(n) / ann_s}, {"exact_qps", static_cast<double>(n) / exact_s},
                        {"rows", index->size()}};
    if (a->json) std::printf("%s\n", j.dump(2).c_str());
    else
      std::printf("ANN recall@%zu vs exact: %.4f over %zu queries; %.0f queries/s (query tower included) vs %.1f "
                  "queries/s exact (%.0fx)\n",
                  a->k, recall, n, static_cast<double>(n) / ann_s, static_cast<double>(n) / exact_s, exact_s / ann_s);
  });
}

}  // namespace funnel::cli
