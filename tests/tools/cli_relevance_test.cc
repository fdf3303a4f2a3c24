// The LambdaMART ranker and the relevance experiment through the CLI on a
// small world: `fit --stage rank --ranker lambdamart` trains and prints the
// feature importance, the rank stage serves the model, and `experiment
// relevance` reports every column with a choice per fold.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

TEST(CliRelevance, LambdaMartFitServeAndExperiment) {
  test::TempDir tmp;
  const std::string w = (tmp.path() / "world").string(), idx = (tmp.path() / "index").string(),
                    models = (tmp.path() / "models").string();
  auto r = test::run_cli("gen --out " + w + " --docs 1500 --queries 120 --users 100 --impressions 200 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_cli("fit --stage rank --ranker lambdamart --data " + w + " --out " + models);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(test::contains(r.output, "feature importance (total gain):")) << r.output;
  EXPECT_TRUE(test::contains(r.output, "window_unordered")) << r.output;
  for (const char* f : {"lambdamart.json", "lexical.json", "fusion.json", "data.json"})
    EXPECT_TRUE(fs::is_regular_file(fs::path(models) / "rank" / f)) << f;
  EXPECT_FALSE(fs::exists(fs::path(models) / "rank" / "bm25.tmp"));

  r = test::run_cli("index --data " + w + " --out " + idx);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path cfg = tmp.path() / "lambdamart.json";
  test::write_file(cfg, json{{"stages",
                              {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", 200}}}}},
                               {{"name", "rank"}, {"type", "rank"}, {"keep", 100}, {"models", models}}}}}
                            .dump());
  r = test::run_cli("eval --index " + idx + " --data " + w + " --config " + cfg.string() + " --json", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const double ranked = json::parse(r.output)["metrics"]["ndcg@10"].get<double>();
  r = test::run_cli("eval --index " + idx + " --data " + w + " --json", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const double bm25 = json::parse(r.output)["metrics"]["ndcg@10"].get<double>();
  std::printf("  test nDCG@10: LambdaMART cascade %.4f, BM25 %.4f\n", ranked, bm25);
  EXPECT_GT(ranked, bm25 - 0.03);
  // A damaged feature file is refused by name when the cascade is built.
  const fs::path lexical = fs::path(models) / "rank" / "lexical.json";
  const std::string kept = test::read_file(lexical);
  test::write_file(lexical, "{}");
  r = test::run_cli("eval --index " + idx + " --data " + w + " --config " + cfg.string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(test::contains(r.output, "lexical.json: missing or not a LambdaMART feature file")) << r.output;
  test::write_file(lexical, kept);
  // A neural ranker's folder is not overwritten by LambdaMART.
  test::write_file(tmp.path() / "neural" / "rank" / "model.pt", "x");
  r = test::run_cli("fit --stage rank --ranker lambdamart --data " + w + " --out " + (tmp.path() / "neural").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(test::contains(r.output, "holds a neural ranker")) << r.output;

  const std::string out = (tmp.path() / "rel").string();
  r = test::run_cli("experiment relevance --data " + w + " --out " + out +
                        " --seeds 1 --folds 3 --inner 2 --rounds 20 --depth 50 --json",
                    false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = json::parse(r.output);
  ASSERT_EQ(j["seeds"].size(), 1u);
  for (const char* c : {"bm25", "bm25_tuned", "bm25_prf", "prf_tuned", "lambdamart", "selected"}) {
    const double v = j["seeds"][0]["ndcg@10"][c].get<double>();
    EXPECT_TRUE(v > 0 && v <= 1) << c << " " << v;
  }
  ASSERT_EQ(j["seeds"][0]["folds"].size(), 3u);
  for (const auto& f : j["seeds"][0]["folds"]) {
    const std::string chosen = f["chosen"].get<std::string>();
    EXPECT_TRUE(chosen == "bm25" || chosen == "bm25_tuned" || chosen == "prf_tuned" || chosen == "lambdamart") << chosen;
    // The selected column is the chosen one's on the test fold.
    EXPECT_EQ(f["test_ndcg@10"]["selected"], f["test_ndcg@10"][chosen]);
  }
  EXPECT_TRUE(fs::is_regular_file(fs::path(out) / "relevance.md"));
  // An output folder of something else is refused.
  r = test::run_cli("experiment relevance --data " + w + " --out " + w + "/qrels --force");
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace funnel
