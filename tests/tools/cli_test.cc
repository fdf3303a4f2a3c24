// The CLI end to end on a small world: gen -> index -> search -> eval, the
// JSON shapes other tools rely on, and the refusal to overwrite.
#include <algorithm>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "funnel/data.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new test::TempDir();
    auto r = test::run_cli("gen --out " + world() + " --docs 3000 --queries 300 --users 200 --impressions 5000 --seed 11");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = test::run_cli("index --data " + world() + " --out " + index());
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete tmp_; }
  static std::string world() { return (tmp_->path() / "world").string(); }
  static std::string index() { return (tmp_->path() / "index").string(); }
  static test::TempDir* tmp_;
};
test::TempDir* CliTest::tmp_ = nullptr;

TEST_F(CliTest, GenWritesTheWorldLayout) {
  for (const char* f : {"corpus.jsonl", "queries.jsonl", "qrels/train.tsv", "qrels/dev.tsv", "qrels/test.tsv",
                        "human_labels.tsv", "impressions.jsonl", "users.jsonl", "world.json"})
    EXPECT_TRUE(fs::is_regular_file(fs::path(world()) / f)) << f;
  json manifest = json::parse(test::read_file(fs::path(world()) / "world.json"));
  EXPECT_EQ(manifest["options"]["docs"], 3000);
  EXPECT_EQ(manifest["options"]["seed"], 11);
  // Refuses to overwrite without --force, and leaves the folder as it was.
  auto r = test::run_cli("gen --out " + world() + " --docs 200 --queries 20 --users 5 --impressions 10");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("not empty (use --force"), std::string::npos) << r.output;
  EXPECT_EQ(read_corpus(fs::path(world()) / "corpus.jsonl").docs.size(), 3000u);
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
  fs::path run = tmp_->path() / "run.trec", report = tmp_->path() / "report.md";
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

TEST_F(CliTest, ShippedConfigsAreValid) {
  auto r = test::run_cli("eval --index " + index() + " --data " + world() + " --k 100 --json --config " +
                             std::string(FUNNEL_SOURCE_DIR) + "/configs/bm25-100.json",
                         false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json::parse(r.output)["stages"][1]["name"], "truncate");
  // The pre-rank config parses, and asks for embeddings this index lacks.
  r = test::run_cli("eval --index " + index() + " --data " + world() + " --config " + std::string(FUNNEL_SOURCE_DIR) +
                    "/configs/prerank-100.json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("stages[1]: the index has no embeddings"), std::string::npos) << r.output;
}

TEST_F(CliTest, HelpAndUsageErrors) {
  for (const char* sub : {"gen", "index", "search", "eval"}) {
    auto r = test::run_cli(std::string(sub) + " --help");
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.output.find("--"), std::string::npos) << sub;
  }
  EXPECT_NE(test::run_cli("search --index " + index()).exit_code, 0);  // no query
  auto r = test::run_cli("search --index /nonexistent peppa");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent: index folder not found"), std::string::npos) << r.output;
  r = test::run_cli("index --data " + world() + " --out " + (tmp_->path() / "x").string() + " --b 3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(fs::exists(tmp_->path() / "x"));
}

// The rank-issue commands' argument errors: clear messages, no output left.
TEST_F(CliTest, RankPretrainAndCvArgumentErrors) {
  for (const char* cmd : {"fit --help", "eval --help", "bench rank --help"}) {
    auto r = test::run_cli(cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd;
  }
  EXPECT_NE(test::run_cli("fit --help").output.find("--task-weights"), std::string::npos);
  EXPECT_NE(test::run_cli("eval --help").output.find("--cv"), std::string::npos);
  const std::string out = (tmp_->path() / "m").string();
  auto r = test::run_cli("fit --stage rank --data " + world() + " --out " + out + " --task-weights relevance=x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--task-weights: 'x' is not a number"), std::string::npos) << r.output;
  r = test::run_cli("fit --stage rank --data " + world() + " --out " + out + " --task-weights dwell=1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown task 'dwell'"), std::string::npos) << r.output;
  r = test::run_cli("fit --stage pretrain --data " + world() + " --out " + out + " --mask-rate 1.5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--mask-rate must be in (0, 1)"), std::string::npos) << r.output;
  r = test::run_cli("fit --data " + world() + " --out " + out + " --ranker-scores " + (tmp_->path() / "none").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("train_scores.jsonl: missing"), std::string::npos) << r.output;
  r = test::run_cli("eval --cv 5 --data " + world());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--out"), std::string::npos) << r.output;
  r = test::run_cli("eval --ablation distill --data " + world() + " --out " + out + " --rows bogus");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown row 'bogus'"), std::string::npos) << r.output;
  r = test::run_cli("bench rank --models " + (tmp_->path() / "none").string());
  EXPECT_EQ(r.exit_code, 1);
  r = test::run_cli("search --index " + index() + " --config " + std::string(FUNNEL_SOURCE_DIR) +
                    "/configs/demo-full.json peppa");
  EXPECT_EQ(r.exit_code, 1);  // the full cascade needs embeddings and a ranker this index lacks
}

// `funnel eval --cv` end to end on MED with tiny training budgets: every
// training query is an inner dev query once, no test query of a fold is in
// its training or dev qrels, the ranker's BM25 weight comes from the pooled
// inner folds, and --force replaces an earlier cross-validation folder but
// never another folder or the data folder.
TEST_F(CliTest, CrossValidationPoolsInnerFoldsAndGuardsItsOutput) {
  const fs::path med = fs::path(FUNNEL_SHARED_DATA) / "beir" / "med";
  if (!fs::exists(med / "corpus.jsonl")) GTEST_SKIP() << med << " not found";
  const fs::path out = tmp_->path() / "cv";
  test::write_file(out / "cv.json", "{}");  // an earlier run's output, replaced with --force
  test::write_file(out / "stale.txt", "old");
  const std::string args = "eval --cv 2 --cv-inner 2 --cv-rank-epochs 2 --cv-rank-steps 4 --cv-prerank-steps 4 --data " +
                           med.string() + " --out ";
  auto r = test::run_cli(args + out.string() + " --force");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(out / "stale.txt"));
  const json cv = json::parse(test::read_file(out / "cv.json")).at("cv");
  EXPECT_EQ(cv["folds"], 2);
  EXPECT_EQ(cv["inner_folds"], 2);
  EXPECT_EQ(cv["queries"], 30);
  ASSERT_EQ(cv["cascade"]["per_fold"].size(), 2u);
  for (const char* k : {"cascade", "bm25", "prerank"}) {
    const double v = cv[k]["ndcg@10"];
    EXPECT_GT(v, 0.0) << k;
    EXPECT_LE(v, 1.0) << k;
  }
  const std::vector<double> grid = {0, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 1000};
  ASSERT_EQ(cv["fold_details"].size(), 2u);
  for (const auto& f : cv["fold_details"]) {
    const fs::path fold = out / ("fold-" + std::to_string(f["fold"].get<int>()));
    // All 15 training queries were dev once (each has a relevant doc).
    EXPECT_EQ(f["ranker_inner_folds"], 2);
    EXPECT_EQ(f["ranker_dev_queries"], f["ranker_train_queries"]);
    EXPECT_EQ(f["ranker_train_queries"].get<int>() + f["test_queries"].get<int>(), 30);
    const int epoch = f["ranker_epoch"];
    EXPECT_TRUE(epoch == 1 || epoch == 2) << epoch;
    const double w = f["rank_fusion_weight"];
    EXPECT_NE(std::find(grid.begin(), grid.end(), w), grid.end()) << w;
    const json fusion = json::parse(test::read_file(fold / "models" / "rank" / "fusion.json"));
    EXPECT_EQ(fusion["recall_weight"].get<double>(), w);
    EXPECT_NE(fusion["fitted"].get<std::string>().find("2 inner folds, " + std::to_string(f["ranker_dev_queries"].get<int>()) +
                                                         " queries"),
              std::string::npos)
        << fusion;
    EXPECT_FALSE(fs::exists(fold / "inner-1"));  // inner models are removed
    // The fold's test queries are in neither the training nor the dev qrels.
    const Qrels test = read_qrels(fold / "data" / "qrels" / "test.tsv");
    EXPECT_EQ(test.size(), f["test_queries"].get<std::size_t>());
    for (const char* split : {"train.tsv", "dev.tsv"})
      for (const auto& [q, j] : read_qrels(fold / "data" / "qrels" / split)) EXPECT_FALSE(test.count(q)) << split << " " << q;
  }
  EXPECT_TRUE(fs::is_regular_file(out / "cv.md"));
  // Neither another folder nor the data folder is replaced.
  const fs::path other = tmp_->path() / "not-cv";
  test::write_file(other / "keep.txt", "mine");
  r = test::run_cli(args + other.string() + " --force");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("not a cross-validation folder"), std::string::npos) << r.output;
  EXPECT_EQ(test::read_file(other / "keep.txt"), "mine");
  r = test::run_cli(args + med.string() + " --force");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("holds the input"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::is_regular_file(med / "corpus.jsonl"));
}

}  // namespace
}  // namespace funnel
