// `funnel bench recall` (bench.h): the ANN channel against exact search
// over the same vectors.
#include <chrono>
#include <cstdio>
#include <unordered_set>

#include "experiments/bench.h"
#include "funnel/ann.h"
#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/stage.h"
#include "prerank/prerank_model.h"

namespace funnel::experiments {
using Clock = std::chrono::steady_clock;

nlohmann::json bench_recall(const RecallBenchOptions& o) {
  auto index = Index::open(o.index);
  if (!index->embeddings()) throw Error(o.index + ": no embeddings (build the index with --models)");
  auto factory = find_channel_type("ann");
  if (!factory) throw Error("bench recall: the ann channel type is not registered");
  auto ann = factory(*index, {{"type", "ann"}, {"ef_search", o.ef_search}}, "bench recall");
  auto model = prerank::PrerankModel::load(index->models_dir());
  auto queries = read_queries(std::filesystem::path(o.data) / "queries.jsonl");
  const std::size_t n = std::min(o.queries, queries.size());
  if (n == 0) throw Error(o.data + "/queries.jsonl: no queries to run");
  double found = 0, ann_s = 0, exact_s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    auto hits = ann->search(queries[i].text, o.k);  // includes the query tower
    auto t1 = Clock::now();
    auto q = model->encode_queries({queries[i].text});
    auto t2 = Clock::now();
    auto exact = exact_top_k(*index->embeddings(), q, static_cast<std::uint32_t>(model->config().nq), o.k);
    auto t3 = Clock::now();
    std::unordered_set<std::uint32_t> got;
    for (const auto& h : hits) got.insert(h.row);
    for (auto row : exact) found += got.count(row);
    ann_s += std::chrono::duration<double>(t1 - t0).count();
    exact_s += std::chrono::duration<double>(t3 - t2).count();
  }
  const double recall = found / static_cast<double>(n * std::min(o.k, index->size()));
  nlohmann::json j = {{"k", o.k}, {"queries", n}, {"recall", recall}, {"ef_search", o.ef_search},
                      {"ann_qps", static_cast<double>(n) / ann_s}, {"exact_qps", static_cast<double>(n) / exact_s},
                      {"rows", index->size()}};
  return j;
}

std::string recall_bench_text(const nlohmann::json& j) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "ANN recall@%zu vs exact: %.4f over %zu queries; %.0f queries/s (query tower included) vs %.1f "
                "queries/s exact (%.0fx)\n",
                j["k"].get<std::size_t>(), j["recall"].get<double>(), j["queries"].get<std::size_t>(),
                j["ann_qps"].get<double>(), j["exact_qps"].get<double>(),
                j["ann_qps"].get<double>() / j["exact_qps"].get<double>());
  return buf;
}

}  // namespace funnel::experiments
