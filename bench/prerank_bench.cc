// Google Benchmark programs for the serving-time pre-rank scorer: per
// request, `candidates` random rows of a store of FUNNEL_BENCH_ROWS rows
// (default 1,000,000) scored with dot, soft_attention (3 x 3 heads) and esim
// in fp32, fp16 and int8, against the same candidates scored with batched
// libtorch ops. Counters: bytes/s touched in the store, and `x_bw_limit`
// (time / (bytes touched / read bandwidth measured in this process)).
//
//   build/bench/prerank_bench --benchmark_filter=soft_attention
// `funnel bench prerank --json` prints the same comparison as one table.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "experiments/bench.h"
#include "funnel/embedding_store.h"
#include "funnel/prerank_scorer.h"
#include "prerank/torch/torch_baseline.h"
#include "util/rng.h"

namespace {
namespace fs = std::filesystem;
using namespace funnel;

constexpr std::uint32_t kDim = 64;

std::size_t store_rows() {
  const char* v = std::getenv("FUNNEL_BENCH_ROWS");
  return v ? std::strtoull(v, nullptr, 10) : 1000000;
}

double read_bandwidth() {
  static const double bw = funnel::experiments::measure_read_bandwidth(std::size_t{1} << 30, 3);
  return bw;
}

struct Setup {
  std::uint32_t nq, nd;
  std::vector<float> vecs, query;
  std::unique_ptr<prerank::TorchScorerBaseline> baseline;
  std::map<Precision, std::shared_ptr<const EmbeddingStore>> stores;
};

std::shared_ptr<EsimWeights> esim_weights(detail::Rng& rng) {
  auto w = std::make_shared<EsimWeights>();
  w->dim = kDim;
  w->proj = 32;
  auto fill = [&](std::vector<float>& v, std::size_t n) {
    v.resize(n);
    for (auto& x : v) x = static_cast<float>(rng.normal() * 0.1);
  };
  fill(w->enhance_w, 32 * 4 * kDim);
  fill(w->enhance_b, 32);
  fill(w->hidden_w, 32 * 4 * 32);
  fill(w->hidden_b, 32);
  fill(w->out_w, 32);
  return w;
}

// One store per (heads, precision), built once per process under the
// system's temp folder and removed at exit.
Setup& setup(std::uint32_t nd, Precision p) {
  static std::map<std::uint32_t, Setup> all;
  static const fs::path dir = fs::temp_directory_path() / ("funnel-bench-" + std::to_string(::getpid()));
  static struct Cleanup {
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup;
  Setup& s = all[nd];
  if (s.vecs.empty()) {
    detail::Rng rng(7 + nd);
    const std::size_t n = store_rows();
    s.nq = nd;
    s.nd = nd;
    s.vecs.resize(n * nd * kDim);
    for (auto& x : s.vecs) x = static_cast<float>(rng.normal() * 0.1);
    s.query.resize(std::size_t{nd} * kDim);
    for (auto& x : s.query) x = static_cast<float>(rng.normal() * 0.1);
    s.baseline = std::make_unique<prerank::TorchScorerBaseline>(s.vecs, n, nd, kDim);
  }
  if (!s.stores.count(p)) {
    fs::path d = dir / (std::to_string(nd) + "-" + precision_name(p));
    publish_store_version(d, {"bench", p, nd, kDim}, s.vecs, store_rows());
    s.stores[p] = EmbeddingStore::open(d);
  }
  return s;
}

std::vector<std::uint32_t> candidates(detail::Rng& rng, std::size_t n) {
  std::vector<std::uint32_t> c(n);
  for (auto& x : c) x = static_cast<std::uint32_t>(rng.below(store_rows()));
  return c;
}

void BM_Funnel(benchmark::State& state, Matcher m, Precision p) {
  const std::uint32_t heads = m == Matcher::kDot ? 1 : 3;
  Setup& s = setup(heads, p);
  detail::Rng rng(11);
  static auto esim = esim_weights(rng);
  PrerankScorer scorer(s.stores[p], {m, 5.0f, false, esim});
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<float> out(n);
  double seconds = 0;  // of the scoring calls alone, for the ratio
  for (auto _ : state) {
    state.PauseTiming();
    auto c = candidates(rng, n);
    state.ResumeTiming();
    auto t0 = std::chrono::steady_clock::now();
    scorer.score(s.query, s.nq, c, out);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(out.data());
  }
  const double bytes = static_cast<double>(n * s.stores[p]->row_bytes());
  const double limit = bytes / read_bandwidth();
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  state.counters["bw_limit_us"] = limit * 1e6;
  state.counters["x_bw_limit"] = seconds / static_cast<double>(state.iterations()) / limit;
}

void BM_Libtorch(benchmark::State& state, const std::string& matcher) {
  const std::uint32_t heads = matcher == "dot" ? 1 : 3;
  Setup& s = setup(heads, Precision::kFp32);
  detail::Rng rng(11);
  if (matcher == "esim") s.baseline->set_esim(*esim_weights(rng));
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<float> out(n);
  for (auto _ : state) {
    state.PauseTiming();
    auto c = candidates(rng, n);
    state.ResumeTiming();
    s.baseline->score(matcher, 5.0f, s.query, s.nq, c, out);
    benchmark::DoNotOptimize(out.data());
  }
}

}  // namespace

#define FUNNEL_BENCH(m, ms)                                                                              \
  BENCHMARK_CAPTURE(BM_Funnel, ms##_fp32, Matcher::m, Precision::kFp32)->Arg(10000)->Unit(benchmark::kMicrosecond); \
  BENCHMARK_CAPTURE(BM_Funnel, ms##_fp16, Matcher::m, Precision::kFp16)->Arg(10000)->Unit(benchmark::kMicrosecond); \
  BENCHMARK_CAPTURE(BM_Funnel, ms##_int8, Matcher::m, Precision::kInt8)->Arg(10000)->Unit(benchmark::kMicrosecond); \
  BENCHMARK_CAPTURE(BM_Libtorch, ms##_fp32, std::string(#ms))->Arg(10000)->Unit(benchmark::kMicrosecond);

FUNNEL_BENCH(kDot, dot)
FUNNEL_BENCH(kSoftAttention, soft_attention)
FUNNEL_BENCH(kEsim, esim)

BENCHMARK_MAIN();
