// `funnel bench`: the benchmarks of src/experiments/bench.h, printed as
// tables or JSON.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "experiments/bench.h"
#include "funnel/error.h"

namespace funnel::cli {

namespace {

void print(const nlohmann::json& j, bool json, const std::string& text) {
  if (json) std::printf("%s\n", j.dump(2).c_str());
  else std::printf("%s", text.c_str());
}

void add_bench_prerank(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("prerank", "Pre-rank scoring: kernels vs memory bandwidth vs libtorch");
  auto o = std::make_shared<experiments::PrerankBenchOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--rows", o->rows, "Rows in the store")->capture_default_str()->check(CLI::Range(1000, 100000000));
  cmd->add_option("--candidates", o->candidates, "Candidates per request")->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--requests", o->requests, "Timed requests per row of the table")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--dim", o->dim, "Head dimension")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--dir", o->dir, "Scratch folder for the stores")->capture_default_str();
  cmd->add_flag("--json", *json, "Print the rows as a JSON list");
  cmd->add_flag("--resident", o->resident, "Copy the store into huge-page memory instead of scoring from the file mapping");
  cmd->callback([o, json] {
    if (o->candidates > o->rows) throw Error("--candidates: at most --rows");
    const auto rows = experiments::bench_prerank(*o);
    print(rows, *json, experiments::prerank_bench_table(rows));
  });
}

void add_bench_recall(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("recall", "ANN recall@k against exact search over the same vectors, and queries/s");
  auto o = std::make_shared<experiments::RecallBenchOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--index", o->index, "Index built with --models")->required();
  cmd->add_option("--data", o->data, "Data folder with queries.jsonl")->required();
  cmd->add_option("--k", o->k, "Neighbours")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--queries", o->queries, "Queries to run")->capture_default_str()->check(CLI::Range(1, 1000000));
  cmd->add_option("--ef-search", o->ef_search, "HNSW query beam")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([o, json] {
    const auto r = experiments::bench_recall(*o);
    print(r, *json, experiments::recall_bench_text(r));
  });
}

void add_bench_rank(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("rank", "Cross ranker latency, with and without its features, vs the pre-rank scorer");
  auto o = std::make_shared<experiments::RankBenchOptions>();
  auto sizes = std::make_shared<std::string>("50,100,200");
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--models", o->models, "Models folder with MODELS/rank (from `funnel fit --stage rank`)")->required();
  cmd->add_option("--data", o->data,
                  "Data folder whose corpus.jsonl the ranker was trained on (default: the one in MODELS/rank/data.json)");
  cmd->add_option("--requests", o->requests, "Timed requests per candidate count")->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--sizes", *sizes, "Candidates per request, comma-separated")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the candidate draws")->capture_default_str();
  cmd->add_option("--threads", o->threads, "libtorch threads (more than 1 is pathologically slow on a shared 2-core host)")
      ->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([o, sizes, json] {
    o->sizes = experiments::parse_sizes(*sizes, "--sizes");
    const auto r = experiments::bench_rank(*o);
    print(r, *json, experiments::rank_bench_table(r));
  });
}

void add_bench_serve(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("serve", "The cascade through HTTP on loopback vs in-process: q/s, p50/p99");
  auto o = std::make_shared<experiments::ServeBenchOptions>();
  auto threads = std::make_shared<std::string>("1,2");
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--index", o->index, "Index folder")->required();
  cmd->add_option("--data", o->data, "Data folder whose queries.jsonl is replayed")->required();
  cmd->add_option("--config", o->configs, "Cascade config(s) to measure (repeat)")->required();
  cmd->add_option("--threads", *threads, "Server thread counts, comma-separated")->capture_default_str();
  cmd->add_option("--requests", o->requests, "Requests per measurement")->capture_default_str()->check(
      CLI::Range(10, 1000000));
  cmd->add_option("--queries", o->queries, "Distinct queries replayed")->capture_default_str()->check(
      CLI::Range(1, 1000000));
  cmd->add_flag("--json", *json, "Print the rows as JSON");
  cmd->callback([o, threads, json] {
    o->threads = experiments::parse_sizes(*threads, "--threads");
    const auto rows = experiments::bench_serve(*o);
    print(rows, *json, experiments::serve_bench_table(rows));
  });
}

void add_bench_rerank(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("rerank", "Re-rank: the fast greedy DPP per request vs the naive greedy");
  auto o = std::make_shared<experiments::BenchRerankOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--seed", o->seed, "Seed of the random requests")->capture_default_str();
  cmd->add_option("--min-seconds", o->min_seconds, "Time each row's fast algorithm at least this long")
      ->capture_default_str()->check(CLI::Range(0.0, 600.0));
  cmd->add_option("--naive-seconds", o->naive_seconds, "Stop timing each row's naive algorithm after this (one request at least)")
      ->capture_default_str()->check(CLI::Range(0.0, 600.0));
  cmd->add_flag("--json", *json, "Print the rows as a JSON list");
  cmd->callback([o, json] {
    const auto rows = experiments::bench_rerank(*o);
    print(experiments::rerank_bench_json(rows), *json, experiments::rerank_bench_table(rows));
  });
}

void add_bench_feed(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("feed", "A feed request (user, no query) through the feed cascade: p50/p99 per stage");
  auto o = std::make_shared<experiments::FeedBenchOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--index", o->index, "Index folder of the feed's corpus")->required();
  cmd->add_option("--model", o->model, "Feed model folder (default INDEX/feed)");
  cmd->add_option("--config", o->config, "Feed cascade config (e.g. configs/feed-bench.json)")->required();
  cmd->add_option("--requests", o->requests, "Timed requests")->capture_default_str()->check(CLI::Range(1, 1000000));
  cmd->add_option("--seed", o->seed, "Seed of the user order")->capture_default_str();
  cmd->add_flag("--json", *json, "Print the result as JSON");
  cmd->callback([o, json] {
    const auto r = experiments::bench_feed(*o);
    print(r, *json, experiments::feed_bench_table(r));
  });
}

}  // namespace

void add_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks, reported as ratios measured in the same run");
  bench->require_subcommand(1);
  add_bench_prerank(*bench);
  add_bench_recall(*bench);
  add_bench_rank(*bench);
  add_bench_rerank(*bench);
  add_bench_feed(*bench);
  add_bench_serve(*bench);
}

}  // namespace funnel::cli
