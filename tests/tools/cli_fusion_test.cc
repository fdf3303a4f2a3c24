// Fusion, tuning and re-rank from the command line, on the trained fixture:
// funnel fit --stage fusion, funnel tune (the --json shape, the files it
// writes, and the fusion stage picking them up), funnel eval --simulate
// with the diversity metrics, funnel experiment fusion, and their errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixture.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class CliFusionTest : public ::testing::Test {
 protected:
  static std::string world() { return test::world_dir().string(); }
  static std::string index() { return test::index_dir().string(); }
  static std::string configs() { return std::string(FUNNEL_SOURCE_DIR) + "/configs/"; }
  // demo-full.json's stages followed by `tail`, written into the temp folder.
  std::string cascade(const json& tail) {
    std::ifstream in(configs() + "demo-full.json");
    json c = json::parse(in);
    for (const auto& s : tail) c["stages"].push_back(s);
    const fs::path p = tmp_.path() / ("cascade" + std::to_string(++n_) + ".json");
    test::write_file(p, c.dump());
    return p.string();
  }
  std::string models() const { return (tmp_.path() / "models").string(); }
  test::TempDir tmp_;
  int n_ = 0;
};

TEST_F(CliFusionTest, FitFusionWritesTheLearnedModelsTheStagesServe) {
  for (const char* method : {"gbdt", "ltr"}) {
    auto r = test::run_cli(std::string("fit --stage fusion --method ") + method + " --data " + world() + " --index " +
                           index() + " --config " + configs() + "demo-full.json --out " + models());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(test::contains(r.output, "held-out click GAUC")) << r.output;
    EXPECT_TRUE(fs::exists(fs::path(models()) / "fusion" / (std::string(method) + ".json")));
    r = test::run_cli("search --index " + index() + " --json --config " +
                          cascade({{{"name", "fusion"}, {"type", method}, {"models", models()}}}) + " 'cat video'",
                      false);
    ASSERT_EQ(r.exit_code, 0) << method << ": " << r.output;
    const json j = json::parse(r.output);
    EXPECT_EQ(j["trace"].back()["name"], "fusion");
    EXPECT_FALSE(j["items"].empty());
  }
  auto r = test::run_cli("fit --stage fusion --data " + world() + " --out " + models());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "--index and --config are required")) << r.output;
}

TEST_F(CliFusionTest, TuneJsonShapeAndTheTunedWeightsAreServed) {
  const std::string hand = cascade({{{"name", "fusion"}, {"type", "formula"}, {"models", models()}}});
  auto r = test::run_cli("tune --index " + index() + " --data " + world() + " --config " + hand + " --models " +
                             models() + " --rounds 2 --candidates 4 --elite 2 --bucket-requests 150 " +
                             "--baseline-requests 400 --eval-requests 400 --select-requests 400 --repeats 2 --add-input category=short --json",
                         false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = json::parse(r.output);
  ASSERT_EQ(j["rounds"].size(), 2u);
  for (const auto& round : j["rounds"]) {
    EXPECT_TRUE(round.contains("round") && round.contains("reward_mean") && round.contains("reward_best"));
    EXPECT_GE(round["reward_best"].get<double>(), round["reward_mean"].get<double>());
  }
  EXPECT_TRUE(j["hand_reward"].is_number());
  EXPECT_TRUE(j["tuned_reward"].is_number());
  EXPECT_EQ(j["repeats"]["n"], 2);
  EXPECT_TRUE(j["repeats"]["tuned_mean"].is_number());
  EXPECT_TRUE(j["repeats"]["tuned_sd"].is_number());
  EXPECT_TRUE(j["tuned_weights"].contains("category=short"));
  // The stage reads the written weights when its config names none.
  const fs::path tuned = fs::path(models()) / "fusion" / "formula.tuned.json";
  ASSERT_TRUE(fs::exists(tuned));
  ASSERT_TRUE(fs::exists(fs::path(models()) / "fusion" / "reward.json"));
  EXPECT_EQ(json::parse(test::read_file(tuned))["weights"], j["tuned_weights"]);
  r = test::run_cli("search --index " + index() + " --json --config " +
                        cascade({{{"name", "fusion"}, {"type", "formula"}, {"weights", "tuned"}, {"models", models()}}}) +
                        " 'cat video'",
                    false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Errors: a cascade without a fusion stage, an unknown constraint.
  r = test::run_cli("tune --index " + index() + " --data " + world() + " --config " + configs() + "demo-full.json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "no fusion stage")) << r.output;
  r = test::run_cli("tune --index " + index() + " --data " + world() + " --config " + hand + " --constraint views:0.1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "unknown objective 'views'")) << r.output;
}

TEST_F(CliFusionTest, EvalSimulatesAndMeasuresDiversity) {
  const std::string full = cascade({{{"name", "fusion"}, {"type", "formula"}, {"models", models()}},
                                    {{"name", "dpp"}, {"type", "dpp"}, {"theta", 0.5}},
                                    {{"name", "rules"}, {"type", "rules"},
                                     {"windows", {{{"field", "author"}, {"max", 1}, {"window", 3}}}}}});
  auto r = test::run_cli("eval --index " + index() + " --data " + world() + " --config " + full +
                             " --k 20 --simulate 300 --json",
                         false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json m = json::parse(r.output)["metrics"];
  for (const char* key : {"ild", "author_coverage", "category_coverage", "rule_violations"})
    EXPECT_TRUE(m["diversity"].contains(key)) << key;
  EXPECT_EQ(m["diversity"]["rules"], "stage 'rules'");
  for (const char* key : {"reward", "watch", "like", "share", "follow"}) EXPECT_TRUE(m["simulated"].contains(key)) << key;
  EXPECT_EQ(m["simulated"]["requests"], 300);
  EXPECT_GT(m["simulated"]["click"].get<double>(), 0);
  // The simulator needs a generated world.
  const fs::path beir = tmp_.path() / "beir";
  fs::create_directories(beir);
  for (const char* f : {"corpus.jsonl", "queries.jsonl"}) fs::copy_file(fs::path(world()) / f, beir / f);
  fs::copy(fs::path(world()) / "qrels", beir / "qrels", fs::copy_options::recursive);
  r = test::run_cli("eval --index " + index() + " --data " + beir.string() + " --simulate 10");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "world.json")) << r.output;
}

TEST_F(CliFusionTest, ExperimentFusionWritesTheTableAndThePlot) {
  const std::string out = (tmp_.path() / "fusion").string();
  auto r = test::run_cli("experiment fusion --index " + index() + " --data " + world() + " --config " + configs() +
                         "demo-full.json --out " + out + " --sim-requests 300 --sim-seeds 2 --thetas 0.5,1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string md = test::read_file(fs::path(out) / "fusion.md");
  EXPECT_TRUE(test::contains(md, "| formula, hand weights |")) << md;
  EXPECT_TRUE(test::contains(md, "+ rules |")) << md;
  EXPECT_TRUE(test::contains(test::read_file(fs::path(out) / "theta.svg"), "<polyline")) << md;
  const json j = json::parse(test::read_file(fs::path(out) / "fusion.json"));
  // With the rules stage, the rule the table counts breaks only where it
  // cannot hold (a list with too few authors), far less than without it.
  double without = -1;
  for (const auto& row : j["rows"])
    if (row["setting"] == "formula, hand weights") without = row["rule_violations"].get<double>();
  ASSERT_GT(without, 0.2);
  for (const auto& row : j["rows"])
    if (row["setting"].get<std::string>().find("+ rules") != std::string::npos) {
      EXPECT_LT(row["rule_violations"].get<double>(), without / 10) << row["setting"];
    }
}

}  // namespace
}  // namespace funnel
