// The CLI end to end on the trained fixture: gen, index, search, eval, the
// JSON shapes other tools rely on, the help of every subcommand, and usage
// and input errors with their exit codes and messages.
#include <algorithm>
#include <sstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixture.h"
#include "funnel/data.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class CliTest : public ::testing::Test {
 protected:
  static std::string world() { return test::world_dir().string(); }
  static std::string index() { return test::index_dir().string(); }
  test::TempDir tmp_;
};

TEST_F(CliTest, GenWritesTheWorldLayoutAndRefusesToOverwrite) {
  const std::string out = (tmp_.path() / "world").string();
  auto r = test::run_cli("gen --out " + out + " --docs 300 --queries 60 --users 20 --impressions 500 --seed 11");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"corpus.jsonl", "queries.jsonl", "qrels/train.tsv", "qrels/dev.tsv", "qrels/test.tsv",
                        "human_labels.tsv", "impressions.jsonl", "users.jsonl", "world.json"})
    EXPECT_TRUE(fs::is_regular_file(fs::path(out) / f)) << f;
  json manifest = json::parse(test::read_file(fs::path(out) / "world.json"));
  EXPECT_EQ(manifest["options"]["docs"], 300);
  EXPECT_EQ(manifest["options"]["seed"], 11);
  r = test::run_cli("gen --out " + out + " --docs 200 --queries 20 --users 5 --impressions 10");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "not empty (use --force")) << r.output;
  EXPECT_EQ(read_corpus(fs::path(out) / "corpus.jsonl").docs.size(), 300u);
}

TEST_F(CliTest, SearchJsonHasItemsAndTrace) {
  auto queries = read_queries(fs::path(world()) / "queries.jsonl");
  auto r = test::run_cli("search --index " + index() + " --k 7 --json '" + queries[0].text + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json j = json::parse(r.output);
  EXPECT_EQ(j["query"], queries[0].text);
  ASSERT_TRUE(j["items"].is_array());
  EXPECT_LE(j["items"].size(), 7u);
  ASSERT_FALSE(j["items"].empty());
  const json& first = j["items"][0];
  for (const char* key : {"rank", "id", "title", "score", "channels", "stages"}) EXPECT_TRUE(first.contains(key)) << key;
  EXPECT_EQ(first["channels"][0], "bm25");
  EXPECT_EQ(first["stages"].size(), 2u);
  ASSERT_EQ(j["trace"].size(), 2u);
  EXPECT_EQ(j["trace"][0]["name"], "recall");
  EXPECT_EQ(j["trace"][1]["out"], j["items"].size());
}

TEST_F(CliTest, EvalJsonKeysRunFileAndReport) {
  fs::path run = tmp_.path() / "run.trec", report = tmp_.path() / "report.md";
  auto r = test::run_cli("eval --index " + index() + " --data " + world() + " --json --run " + run.string() +
                         " --report " + report.string(), false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json j = json::parse(r.output);
  ASSERT_EQ(j["stages"].size(), 2u);
  for (const auto& s : j["stages"])
    for (const char* key : {"name", "candidates", "recall", "p50_ms", "p99_ms"}) EXPECT_TRUE(s.contains(key)) << key;
  for (const char* key : {"ndcg@10", "map", "mrr", "recall@100", "recall@1000"}) {
    ASSERT_TRUE(j["metrics"].contains(key)) << key;
    EXPECT_GT(j["metrics"][key].get<double>(), 0.0) << key;
    EXPECT_LE(j["metrics"][key].get<double>(), 1.0) << key;
  }
  // Truncation keeps what recall found: the same Recall@stage.
  EXPECT_DOUBLE_EQ(j["stages"][0]["recall"].get<double>(), j["stages"][1]["recall"].get<double>());
  EXPECT_DOUBLE_EQ(j["stages"][1]["recall"].get<double>(), j["metrics"]["recall@1000"].get<double>());
  std::string trec = test::read_file(run);
  ASSERT_FALSE(trec.empty());
  std::istringstream first_line(trec.substr(0, trec.find('\n')));
  std::string qid, q0, doc, tag;
  int rank;
  double score;
  first_line >> qid >> q0 >> doc >> rank >> score >> tag;
  EXPECT_EQ(q0, "Q0");
  EXPECT_EQ(rank, 1);
  EXPECT_EQ(tag, "funnel");
  EXPECT_NE(test::read_file(report).find("| stage | candidates | Recall@stage"), std::string::npos);
}

TEST_F(CliTest, ShippedConfigsRunOnAnIndexWithModels) {
  const std::string configs = std::string(FUNNEL_SOURCE_DIR) + "/configs/";
  auto r = test::run_cli("eval --index " + index() + " --data " + world() + " --k 100 --json --config " + configs +
                             "bm25-100.json", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json::parse(r.output)["stages"][1]["name"], "truncate");
  for (const char* c : {"prerank-100.json", "demo-cascade.json", "demo-full.json", "bm25-ann-2000.json",
                        "bm25-100-ann-prerank.json", "bm25-100-ann-prerank-nofill.json"}) {
    r = test::run_cli("search --index " + index() + " --k 3 --json --config " + configs + c + " 'cat video'", false);
    ASSERT_EQ(r.exit_code, 0) << c << ": " << r.output;
    EXPECT_FALSE(json::parse(r.output)["items"].empty()) << c;
  }
  // The model stages ask for embeddings a BM25-only index lacks.
  const std::string bm25_only = (tmp_.path() / "bm25-only").string();
  ASSERT_EQ(test::run_cli("index --data " + world() + " --out " + bm25_only).exit_code, 0);
  r = test::run_cli("search --index " + bm25_only + " --config " + configs + "demo-full.json peppa");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "funnel: error: " + configs + "demo-full.json: stages[0]: channels[1]")) << r.output;
  EXPECT_TRUE(test::contains(r.output, "no ANN index")) << r.output;
  r = test::run_cli("eval --index " + bm25_only + " --data " + world() + " --config " + configs + "prerank-100.json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "stages[1]: the index has no embeddings")) << r.output;
}

TEST_F(CliTest, EverySubcommandHasHelpNamingItsOptions) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> help = {
      {"", {"gen", "index", "search", "eval", "fit", "experiment", "bench"}},
      {"gen", {"--out", "--docs", "--seed", "--force"}},
      {"index", {"--data", "--out", "--models", "--precision", "--refresh", "--k1"}},
      {"search", {"--index", "--config", "--json", "--k"}},
      {"eval", {"--index", "--data", "--split", "--run", "--report", "--json", "funnel experiment"}},
      {"fit", {"--stage", "--matcher", "--ranker-scores", "--task-weights", "--mask-rate", "--child-tuning"}},
      {"experiment", {"cv", "ablation", "tokenizer"}},
      {"experiment cv", {"--folds", "--inner", "--seed", "--text", "--force", "--max-queries"}},
      {"experiment tokenizer", {"--data", "--out", "--vocab-sizes", "--json"}},
      {"experiment ablation", {"prerank", "distill"}},
      {"experiment ablation prerank", {"--seeds", "--matchers", "--keep", "--depth"}},
      {"experiment ablation distill", {"--rows", "--teacher-epochs", "--eval-queries"}},
      {"bench", {"prerank", "recall", "rank"}},
      {"bench prerank", {"--rows", "--candidates", "--resident"}},
      {"bench recall", {"--index", "--ef-search"}},
      {"bench rank", {"--models", "--sizes", "--threads"}},
  };
  for (const auto& [sub, words] : help) {
    const auto r = test::run_cli(sub + " --help");
    EXPECT_EQ(r.exit_code, 0) << sub;
    for (const auto& w : words) EXPECT_TRUE(test::contains(r.output, w)) << "'" << sub << " --help' lacks " << w;
  }
}

TEST_F(CliTest, UsageErrorsExitTwoAndInputErrorsOneWithTheirMessage) {
  auto r = test::run_cli("search --index " + index());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(test::contains(r.output, "query is required")) << r.output;
  r = test::run_cli("eval --data " + world());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(test::contains(r.output, "--index is required")) << r.output;
  r = test::run_cli("experiment cv --data " + world());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(test::contains(r.output, "--out is required")) << r.output;
  r = test::run_cli("experiment ablation prerank --data " + world() + " --out x --keep 10 --depth 5");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(test::contains(r.output, "--keep: at most --depth")) << r.output;
  r = test::run_cli("nosuchcommand");
  EXPECT_EQ(r.exit_code, 2);
  r = test::run_cli("search --index /nonexistent peppa");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "funnel: error: /nonexistent: index folder not found")) << r.output;
  const fs::path x = tmp_.path() / "x";
  r = test::run_cli("index --data " + world() + " --out " + x.string() + " --b 3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "field 'b'")) << r.output;
  EXPECT_FALSE(fs::exists(x));
}

TEST_F(CliTest, TokenizerExperimentReportsUnknownShares) {
  const std::string out = (tmp_.path() / "tok").string();
  auto r = test::run_cli("experiment tokenizer --data " + world() + " --out " + out + " --vocab-sizes 60,400 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json rows = json::parse(r.output.substr(r.output.find('[')));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["vocab_size"], 60);
  // The world's text has about 50 distinct characters: at vocabulary 60 the
  // 30 most frequent are kept, and no more pieces are <unk> than the share
  // of characters left out.
  for (const auto& row : rows) {
    EXPECT_LE(row["vocab_trained"].get<int>(), row["vocab_size"].get<int>());
    EXPECT_GT(row["kept_share"].get<double>(), 0.9);
    EXPECT_LE(row["unk_share_docs"].get<double>(), 1 - row["kept_share"].get<double>() + 1e-9);
    EXPECT_GT(row["pieces_per_doc"].get<double>(), 1.0);
  }
  EXPECT_LT(rows[0]["kept_share"].get<double>(), 1.0);
  EXPECT_EQ(rows[1]["kept_share"], 1.0);  // 200 characters fit: nothing is <unk>
  EXPECT_EQ(rows[1]["unk_share_docs"], 0.0);
  r = test::run_cli("experiment tokenizer --data " + world() + " --out " + out + " --vocab-sizes 4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "--vocab-sizes: each in 8..1000000, got 4")) << r.output;
}

// The training and experiment commands' argument errors: clear messages, no output left.
TEST_F(CliTest, FitExperimentAndBenchArgumentErrors) {
  const std::string out = (tmp_.path() / "m").string();
  auto r = test::run_cli("fit --stage rank --data " + world() + " --out " + out + " --task-weights relevance=x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "--task-weights: 'x' is not a number")) << r.output;
  r = test::run_cli("fit --stage rank --data " + world() + " --out " + out + " --task-weights dwell=1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "unknown task 'dwell'")) << r.output;
  r = test::run_cli("fit --stage pretrain --data " + world() + " --out " + out + " --mask-rate 1.5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "--mask-rate must be in (0, 1)")) << r.output;
  r = test::run_cli("fit --data " + world() + " --out " + out + " --ranker-scores " + (tmp_.path() / "none").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "train_scores.jsonl: missing")) << r.output;
  r = test::run_cli("experiment ablation distill --data " + world() + " --out " + out + " --rows bogus");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "unknown row 'bogus'")) << r.output;
  r = test::run_cli("bench rank --models " + (tmp_.path() / "none").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "no such folder")) << r.output;
  r = test::run_cli("bench rank --models " + test::models_dir().string() + " --sizes 10,x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "--sizes: 'x'")) << r.output;
}

}  // namespace
}  // namespace funnel
