// funnel bench rank: the cross ranker's latency per request and per
// candidate, with and without its cross features, against the serving
// pre-rank scorer on the same candidates, measured in the same run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/bench.h"
#include "funnel/data.h"
#include "funnel/embedding_store.h"
#include "funnel/error.h"
#include "funnel/prerank_scorer.h"
#include "prerank/model_config.h"
#include "rank/ranker_model.h"
#include "train/common/torch_threads.h"
#include "util/rng.h"

namespace funnel::experiments {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// The data folder the ranker was trained on: MODELS/rank/data.json.
fs::path training_data_of(const fs::path& models) {
  const fs::path dj = models / "rank" / "data.json";
  std::ifstream in(dj);
  if (!in) throw Error(dj.string() + ": missing; pass --data DIR (the data folder the ranker was trained on)");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_string())
    throw Error(dj.string() + ": expected {\"data\": DIR}; pass --data DIR instead");
  return j["data"].get<std::string>();
}

// `n` distinct random rows of [0, rows).
std::vector<std::uint32_t> random_rows(detail::Rng& rng, std::size_t n, std::size_t rows) {
  std::vector<std::uint32_t> out;
  out.reserve(n);
  std::unordered_set<std::uint32_t> seen;
  while (out.size() < n) {
    const auto r = static_cast<std::uint32_t>(rng.below(rows));
    if (seen.insert(r).second) out.push_back(r);
  }
  return out;
}

// The serving pre-rank scorer over a store of the corpus size, in the
// trained model's shape, filled with random vectors (its speed does not
// depend on their values). The store lives in a scratch folder removed on
// destruction.
struct PrerankSetup {
  std::string source, matcher;
  std::uint32_t nq = 1, nd = 1, dim = 64;
  fs::path dir;
  std::unique_ptr<PrerankScorer> scorer;
  std::vector<float> query;

  PrerankSetup(const fs::path& models, std::size_t rows, detail::Rng& rng) {
    const fs::path cfg_path = models / "prerank" / "config.json";
    float beta = 5.0f;
    std::uint32_t proj = 32;
    if (fs::exists(models / "prerank")) {
      std::ifstream in(cfg_path);
      if (!in) throw Error(cfg_path.string() + ": missing (train the pre-ranker with `funnel fit --stage prerank`)");
      nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
      if (j.is_discarded()) throw Error(cfg_path.string() + ": malformed JSON");
      const auto c = prerank::two_tower_from_json(j, cfg_path.string());
      source = "shape of " + (models / "prerank").string();
      matcher = c.matcher;
      nq = static_cast<std::uint32_t>(c.nq);
      nd = static_cast<std::uint32_t>(c.nd);
      dim = static_cast<std::uint32_t>(c.head_dim);
      beta = static_cast<float>(c.beta);
      proj = static_cast<std::uint32_t>(c.esim_proj);
    } else {
      source = "default: no " + (models / "prerank").string() + ", so the dot matcher with 1 head of 64 dims";
      matcher = "dot";
    }
    const Matcher m = parse_matcher(matcher, cfg_path.string());
    std::shared_ptr<EsimWeights> esim;
    auto fill = [&](std::vector<float>& v, std::size_t n, double sd) {
      v.resize(n);
      for (auto& x : v) x = static_cast<float>(rng.normal() * sd);
    };
    if (m == Matcher::kEsim) {  // random weights of the trained shape, as in `bench prerank`
      esim = std::make_shared<EsimWeights>();
      esim->dim = dim;
      esim->proj = proj;
      fill(esim->enhance_w, std::size_t{proj} * 4 * dim, 0.1);
      fill(esim->enhance_b, proj, 0.1);
      fill(esim->hidden_w, std::size_t{proj} * 4 * proj, 0.1);
      fill(esim->hidden_b, proj, 0.1);
      fill(esim->out_w, proj, 0.1);
    }
    std::vector<float> vecs;
    fill(vecs, rows * nd * dim, 0.1);
    fill(query, std::size_t{nq} * dim, 0.1);
    dir = fs::temp_directory_path() / ("funnel-bench-rank-" + std::to_string(::getpid()));
    std::error_code ec;
    fs::remove_all(dir, ec);
    publish_store_version(dir, {"bench-rank", Precision::kFp32, nd, dim}, vecs, rows);
    auto store = EmbeddingStore::open(dir, 0, false, false);
    scorer = std::make_unique<PrerankScorer>(store, ScorerOptions{m, beta, false, esim});
  }
  ~PrerankSetup() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
  PrerankSetup(const PrerankSetup&) = delete;
  PrerankSetup& operator=(const PrerankSetup&) = delete;

  double score_us(const std::vector<std::uint32_t>& rows, std::vector<float>& out) const {
    out.resize(rows.size());
    auto t0 = Clock::now();
    scorer->score(query, nq, rows, out);
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  }
};

}  // namespace

std::vector<std::size_t> parse_sizes(const std::string& text, const std::string& option) {
  std::vector<std::size_t> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::size_t used = 0;
    unsigned long long v = 0;
    bool ok = !item.empty() && item.find_first_not_of("0123456789") == std::string::npos;
    if (ok) {
      try {
        v = std::stoull(item, &used);
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok || used != item.size() || v == 0 || v > 1000000)
      throw Error(option + ": '" + item + "' is not a candidate count in 1..1000000 (expected e.g. 50,100,200)");
    out.push_back(static_cast<std::size_t>(v));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

nlohmann::json bench_rank(const RankBenchOptions& o) {
  const auto& sizes = o.sizes;
  if (sizes.empty()) throw Error("--sizes: at least one candidate count");
  const fs::path models = o.models;
  if (!fs::is_directory(models)) throw Error("--models: " + models.string() + ": no such folder");
  if (!fs::is_directory(models / "rank"))
    throw Error("--models: " + (models / "rank").string() + ": missing (train the ranker with `funnel fit --stage rank`)");
  const fs::path data = o.data.empty() ? training_data_of(models) : fs::path(o.data);
  if (!fs::is_directory(data)) throw Error("--data: " + data.string() + ": no such folder");
  for (const char* f : {"corpus.jsonl", "queries.jsonl"})
    if (!fs::is_regular_file(data / f)) throw Error("--data: " + (data / f).string() + ": missing");

  train::init_torch_threads(o.threads);
  std::fprintf(stderr, "bench rank: reading %s\n", data.string().c_str());
  auto corpus = std::make_shared<const Corpus>(read_corpus(data / "corpus.jsonl"));
  const auto queries = read_queries(data / "queries.jsonl");
  if (queries.empty()) throw Error((data / "queries.jsonl").string() + ": no queries");
  const std::size_t n_docs = corpus->docs.size();
  for (auto s : sizes)
    if (s > n_docs)
      throw Error("--sizes: " + std::to_string(s) + " candidates, but the corpus has " + std::to_string(n_docs) + " docs");
  std::fprintf(stderr, "bench rank: loading %s\n", (models / "rank").string().c_str());
  auto ranker = rank::RankerModel::load(models, corpus);

  detail::Rng rng(o.seed);
  std::fprintf(stderr, "bench rank: building a %zu-row pre-rank store\n", n_docs);
  PrerankSetup pre(models, n_docs, rng);

  constexpr std::size_t kWarmup = 3;
  nlohmann::json rows_out = nlohmann::json::array();
  std::vector<float> pre_out;
  std::size_t qi = 0;
  for (std::size_t size : sizes) {
    std::fprintf(stderr, "bench rank: %zu candidates x %zu requests\n", size, o.requests);
    std::vector<double> with_t, without_t, feat_t, pre_t;
    for (std::size_t r = 0; r < kWarmup + o.requests; ++r) {
      const std::string& query = queries[qi++ % queries.size()].text;
      const auto rows = random_rows(rng, size, n_docs);
      rank::RankerModel::Timing tw, tn;
      // Alternate the order so neither variant always runs on warm caches.
      if (r % 2 == 0) {
        ranker->predict(query, rows, &tw);
        ranker->predict(query, rows, &tn, /*skip_features=*/true);
      } else {
        ranker->predict(query, rows, &tn, /*skip_features=*/true);
        ranker->predict(query, rows, &tw);
      }
      const double pre_us = pre.score_us(rows, pre_out);
      if (r < kWarmup) continue;
      with_t.push_back((tw.features_ms + tw.model_ms) * 1e3);
      without_t.push_back((tn.features_ms + tn.model_ms) * 1e3);
      feat_t.push_back(tw.features_ms * 1e3);
      pre_t.push_back(pre_us);
    }
    const double cands = static_cast<double>(size);
    const double per_cand = median(with_t) / cands, pre_per_cand = median(pre_t) / cands;
    rows_out.push_back({{"candidates", size},
                        {"with_features_us", {{"p50", median(with_t)}, {"p99", p99(with_t)}}},
                        {"without_features_us", {{"p50", median(without_t)}, {"p99", p99(without_t)}}},
                        {"features_us_p50", median(feat_t)},
                        {"us_per_candidate", per_cand},
                        {"prerank_us_per_candidate", pre_per_cand},
                        {"rank_over_prerank", per_cand / pre_per_cand}});
  }

  nlohmann::json out = {{"bench", "rank"},
                        {"model_id", ranker->model_id()},
                        {"threads", o.threads},
                        {"requests", o.requests},
                        {"corpus_docs", n_docs},
                        {"warmup", kWarmup},
                        {"prerank", {{"source", pre.source}, {"matcher", pre.matcher}, {"nq", pre.nq}, {"nd", pre.nd},
                                     {"head_dim", pre.dim}, {"precision", "fp32"}, {"kernel", pre.scorer->kernel_name()}}},
                        {"sizes", rows_out}};
  return out;
}

std::string rank_bench_table(const nlohmann::json& r) {
  std::string out;
  char line[512];
  const auto& P = r["prerank"];
  const int threads = r["threads"].get<int>();
  std::snprintf(line, sizeof line,
                "rank model %s, %d libtorch thread%s, %zu requests per row (after %zu warm-up), corpus %zu docs\n",
                r["model_id"].get<std::string>().c_str(), threads, threads == 1 ? "" : "s",
                r["requests"].get<std::size_t>(), r["warmup"].get<std::size_t>(), r["corpus_docs"].get<std::size_t>());
  out += line;
  std::snprintf(line, sizeof line,
                "pre-rank scorer (%s): %s nq=%u nd=%u dim=%u fp32, kernel %s, random vectors; scoring only, the query "
                "tower excluded\n",
                P["source"].get<std::string>().c_str(), P["matcher"].get<std::string>().c_str(), P["nq"].get<unsigned>(),
                P["nd"].get<unsigned>(), P["head_dim"].get<unsigned>(), P["kernel"].get<std::string>().c_str());
  out += line;
  std::snprintf(line, sizeof line, "%6s %12s %12s %12s %12s %12s %10s %12s %10s\n", "cands", "with p50 us", "with p99 us",
                "w/o p50 us", "w/o p99 us", "feat p50 us", "us/cand", "pre us/cand", "x prerank");
  out += line;
  for (const auto& row : r["sizes"]) {
    std::snprintf(line, sizeof line, "%6zu %12.1f %12.1f %12.1f %12.1f %12.1f %10.2f %12.4f %10.0f\n",
                  row["candidates"].get<std::size_t>(), row["with_features_us"]["p50"].get<double>(),
                  row["with_features_us"]["p99"].get<double>(), row["without_features_us"]["p50"].get<double>(),
                  row["without_features_us"]["p99"].get<double>(), row["features_us_p50"].get<double>(),
                  row["us_per_candidate"].get<double>(), row["prerank_us_per_candidate"].get<double>(),
                  row["rank_over_prerank"].get<double>());
    out += line;
  }
  return out + "with = features + model, w/o = the model on zero features; p50 = median, p99 = nearest rank\n";
}

}  // namespace funnel::experiments
