// `funnel bench prerank` (bench.h), and the helpers every benchmark shares.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <unordered_set>

#include "experiments/bench.h"
#include "funnel/ann.h"
#include "funnel/embedding_store.h"
#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/prerank_scorer.h"
#include "funnel/stage.h"
#include "prerank/prerank_model.h"
#include "prerank/torch/torch_baseline.h"
#include "util/rng.h"

namespace funnel::experiments {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
// printf into a std::string.
std::string format(const char* f, ...) {
  char buf[512];
  va_list args;
  va_start(args, f);
  std::vsnprintf(buf, sizeof buf, f, args);
  va_end(args);
  return buf;
}
}  // namespace

double measure_read_bandwidth(std::size_t bytes, int passes) {
  std::vector<float> buf(bytes / sizeof(float), 1.0f);
  double best = 0;
  volatile float sink = 0;
  for (int pass = 0; pass < passes; ++pass) {
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

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

double p99(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(v.size())));
  return v[std::min(v.size(), std::max<std::size_t>(rank, 1)) - 1];
}

namespace {
// The floor for scattered rows: copy the request's rows, in its order, into
// one buffer, prefetching 8 rows ahead. A scorer reads the same bytes and
// can at best hide its arithmetic under these misses.
void gather_rows(const EmbeddingStore& store, std::span<const std::uint32_t> cand, std::vector<std::uint8_t>& buf) {
  const std::size_t rb = store.row_bytes();
  buf.resize(cand.size() * rb);
  for (std::size_t i = 0; i < cand.size(); ++i) {
    if (i + 8 < cand.size()) {
      const std::uint8_t* ahead = store.raw_row(cand[i + 8]);
      for (std::size_t b = 0; b < rb; b += 64) __builtin_prefetch(ahead + b);
    }
    std::memcpy(buf.data() + i * rb, store.raw_row(cand[i]), rb);
  }
}
}  // namespace

nlohmann::json bench_prerank(const PrerankBenchOptions& o) {
  if (o.candidates > o.rows) throw Error("--candidates: at most --rows");
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
    esim->dim = o.dim;
    esim->proj = P;
    auto fill = [&](std::vector<float>& v, std::size_t n, double sd) {
      v.resize(n);
      for (auto& x : v) x = static_cast<float>(rng.normal() * sd);
    };
    fill(esim->enhance_w, std::size_t{P} * 4 * o.dim, 0.1);
    fill(esim->enhance_b, P, 0.1);
    fill(esim->hidden_w, std::size_t{P} * 4 * P, 0.1);
    fill(esim->hidden_b, P, 0.1);
    fill(esim->out_w, P, 0.1);
  }
  for (Setup s : {Setup{"dot", 1, 1}, Setup{"soft_attention", 3, 3}, Setup{"esim", 3, 3}}) {
    std::fprintf(stderr, "bench: generating %zu x %u x %u rows\n", o.rows, s.nd, o.dim);
    std::vector<float> vecs(o.rows * s.nd * o.dim);
    for (auto& x : vecs) x = static_cast<float>(rng.normal()) * 0.1f;
    std::vector<float> q(std::size_t{s.nq} * o.dim);
    for (auto& x : q) x = static_cast<float>(rng.normal()) * 0.1f;
    prerank::TorchScorerBaseline baseline(vecs, o.rows, s.nd, o.dim);
    baseline.set_esim(*esim);
    for (Precision p : {Precision::kFp32, Precision::kFp16, Precision::kInt8}) {
      fs::path dir = fs::path(o.dir) / (std::string(s.matcher) + "-" + precision_name(p));
      std::error_code ec;
      fs::remove_all(dir, ec);
      publish_store_version(dir, {"bench", p, s.nd, o.dim}, vecs, o.rows);
      auto store = EmbeddingStore::open(dir, 0, false, o.resident);
      PrerankScorer scorer(store, {parse_matcher(s.matcher, "bench"), 5.0f, false, esim});
      std::vector<std::uint32_t> cand(o.candidates);
      std::vector<float> out(o.candidates);
      // Medians over the requests: this machine shares its cores, and a
      // mean would carry every stall of the host.
      std::vector<double> ours_t, torch_t, gather_t;
      std::vector<std::uint8_t> gathered;
      std::vector<float> check(o.candidates);
      double max_diff = 0;  // ours vs libtorch on every timed request, as a sanity check
      for (std::size_t r = 0; r < o.requests + 2; ++r) {
        for (auto& c : cand) c = static_cast<std::uint32_t>(rng.below(o.rows));
        auto tg = Clock::now();
        gather_rows(*store, cand, gathered);
        gather_t.push_back(std::chrono::duration<double, std::micro>(Clock::now() - tg).count());
        // The scorer reads other rows than the gather just warmed.
        for (auto& c : cand) c = static_cast<std::uint32_t>(rng.below(o.rows));
        auto t0 = Clock::now();
        scorer.score(q, s.nq, cand, out);
        auto t1 = Clock::now();
        baseline.score(s.matcher, 5.0f, q, s.nq, cand, check);
        auto t2 = Clock::now();
        if (p == Precision::kFp32)
          for (std::size_t i = 0; i < out.size(); ++i)
            max_diff = std::max(max_diff, static_cast<double>(std::fabs(out[i] - check[i])));
        if (r < 2) {  // warm-up
          gather_t.pop_back();
          continue;
        }
        ours_t.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        torch_t.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
      }
      const double ours = median(ours_t), torch_us = median(torch_t), gather_us = median(gather_t);
      const double bytes = static_cast<double>(o.candidates) * static_cast<double>(store->row_bytes());
      const double limit_us = bytes / bw * 1e6;
      rows_out.push_back({{"matcher", s.matcher}, {"precision", precision_name(p)}, {"candidates", o.candidates},
                          {"rows", o.rows}, {"us_per_request", ours}, {"bandwidth_limit_us", limit_us},
                          {"gather_limit_us", gather_us},
                          {"libtorch_us", torch_us}, {"flops_per_pair", scorer.flops_per_pair(s.nq)},
                          {"kernel", scorer.kernel_name()},
                          {"max_abs_diff_vs_libtorch", p == Precision::kFp32 ? nlohmann::json(max_diff) : nlohmann::json()}});
      if (p == Precision::kFp32 && max_diff > 1e-3)
        throw Error(std::string("bench prerank: ") + s.matcher + " scores differ from libtorch by " +
                    std::to_string(max_diff));
      fs::remove_all(dir, ec);
    }
  }
  return rows_out;
}

std::string prerank_bench_table(const nlohmann::json& rows) {
  std::string out;
  out += format("%-15s %-5s %10s %12s %12s %12s %12s %9s %9s %9s\n", "matcher", "prec", "cands", "us/request",
                "bw limit us", "gather us", "libtorch us", "x limit", "x gather", "x faster");
  for (const auto& r : rows)
    out += format("%-15s %-5s %10zu %12.1f %12.1f %12.1f %12.1f %9.2f %9.2f %9.2f\n",
                r["matcher"].get<std::string>().c_str(), r["precision"].get<std::string>().c_str(),
                r["candidates"].get<std::size_t>(), r["us_per_request"].get<double>(),
                r["bandwidth_limit_us"].get<double>(), r["gather_limit_us"].get<double>(), r["libtorch_us"].get<double>(),
                r["us_per_request"].get<double>() / r["bandwidth_limit_us"].get<double>(),
                r["us_per_request"].get<double>() / r["gather_limit_us"].get<double>(),
                r["libtorch_us"].get<double>() / r["us_per_request"].get<double>());
  return out;
}

}  // namespace funnel::experiments
