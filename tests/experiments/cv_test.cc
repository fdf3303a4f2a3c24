// Cross-validation (`funnel experiment cv`) on a copy of MED with tiny
// training budgets: every judged query is a test query exactly once, no test
// query is in its fold's training or dev qrels, the ranker's weight comes
// from the pooled inner folds (or a dev split with 0 or 1 inner folds); bad
// options and outputs are refused. Never run on the shared data itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "experiments/cv.h"
#include "funnel/data.h"
#include "funnel/error.h"
#include "test_util.h"

namespace funnel::experiments {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// A copy of MED in a temporary folder; skips the test when the shared data
// is absent.
class CvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path med = fs::path(FUNNEL_SHARED_DATA) / "beir" / "med";
    if (!fs::exists(med / "corpus.jsonl"))
      GTEST_SKIP() << "skipped: " << med << " not found (the shared BEIR collections are not beside the checkout)";
    fs::copy(med, tmp_.path() / "med", fs::copy_options::recursive);
  }
  fs::path data() const { return tmp_.path() / "med"; }
  CvOptions tiny(const fs::path& out, int folds, int inner) const {
    CvOptions o = default_cv_options();
    o.data = data().string();
    o.out = out.string();
    o.folds = folds;
    o.inner_folds = inner;
    o.rank.epochs = 2;
    o.rank.steps_per_epoch = 4;
    o.prerank.steps_per_epoch = 4;
    o.prerank.epochs = 1;
    return o;
  }
  test::TempDir tmp_;
};

TEST_F(CvTest, EveryQueryIsTestedOnceAndNoTestQueryLeaks) {
  const fs::path out = tmp_.path() / "cv";
  run_cv(tiny(out, 3, 2));
  const json cv = json::parse(test::read_file(out / "cv.json")).at("cv");
  EXPECT_EQ(cv["folds"], 3);
  EXPECT_EQ(cv["queries"], 30);
  const std::vector<double> grid = {0, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 1000};
  std::map<std::string, int> tested;
  for (const auto& f : cv.at("fold_details")) {
    const fs::path fold = out / ("fold-" + std::to_string(f["fold"].get<int>()));
    const Qrels test = read_qrels(fold / "data" / "qrels" / "test.tsv");
    EXPECT_EQ(test.size(), f["test_queries"].get<std::size_t>());
    for (const auto& [q, j] : test) ++tested[q];
    for (const char* split : {"train.tsv", "dev.tsv"}) {
      if (!fs::exists(fold / "data" / "qrels" / split)) continue;
      for (const auto& [q, j] : read_qrels(fold / "data" / "qrels" / split)) {
        EXPECT_FALSE(test.count(q)) << split << " " << q;
      }
    }
    // All training queries were an inner dev query once; the weight is on the grid.
    EXPECT_EQ(f["ranker_inner_folds"], 2);
    EXPECT_EQ(f["ranker_dev_queries"], f["ranker_train_queries"]);
    const double w = f["rank_fusion_weight"];
    EXPECT_NE(std::find(grid.begin(), grid.end(), w), grid.end()) << w;
    const json fusion = json::parse(test::read_file(fold / "models" / "rank" / "fusion.json"));
    EXPECT_EQ(fusion["recall_weight"].get<double>(), w);
    EXPECT_TRUE(test::contains(fusion["fitted"].get<std::string>(), "2 inner folds")) << fusion;
    EXPECT_FALSE(fs::exists(fold / "inner-1"));  // inner models are removed
  }
  ASSERT_EQ(tested.size(), 30u);
  for (const auto& [q, n] : tested) EXPECT_EQ(n, 1) << q;
  EXPECT_TRUE(fs::is_regular_file(out / "cv.md"));
}

TEST_F(CvTest, ZeroOrOneInnerFoldsChooseOnADevSplit) {
  for (int inner : {0, 1}) {
    const fs::path out = tmp_.path() / ("cv-inner-" + std::to_string(inner));
    run_cv(tiny(out, 2, inner));
    const json cv = json::parse(test::read_file(out / "cv.json")).at("cv");
    EXPECT_EQ(cv["inner_folds"], 0);
    for (const auto& f : cv.at("fold_details")) {
      EXPECT_EQ(f["ranker_inner_folds"], 0) << inner;
      EXPECT_EQ(f["ranker_dev_queries"], f["dev_queries"]) << inner;  // the fifth held out as dev
      EXPECT_LT(f["dev_queries"].get<int>(), f["ranker_train_queries"].get<int>());
    }
  }
}

TEST_F(CvTest, RefusesBadOptionsAndGuardsItsOutput) {
  const fs::path out = tmp_.path() / "cv";
  EXPECT_TRUE(test::contains(test::error_of([&] { run_cv(tiny(out, 1, 0)); }), "--folds: at least 2"));
  EXPECT_TRUE(test::contains(test::error_of([&] { run_cv(tiny(out, 31, 0)); }), "fewer than --folds 31"));
  // Four judged queries in two folds leave two training queries a fold.
  const fs::path four = tmp_.path() / "four";
  std::string corpus, queries, qrels = "query-id\tcorpus-id\tscore\n";
  for (int i = 1; i <= 4; ++i) {
    corpus += "{\"_id\": \"d" + std::to_string(i) + "\", \"title\": \"doc " + std::to_string(i) + "\"}\n";
    queries += "{\"_id\": \"q" + std::to_string(i) + "\", \"text\": \"doc " + std::to_string(i) + "\"}\n";
    qrels += "q" + std::to_string(i) + "\td" + std::to_string(i) + "\t1\n";
  }
  test::write_file(four / "corpus.jsonl", corpus);
  test::write_file(four / "queries.jsonl", queries);
  test::write_file(four / "qrels" / "test.tsv", qrels);
  auto small = tiny(tmp_.path() / "cv-four", 2, 0);
  small.data = four.string();
  EXPECT_TRUE(test::contains(test::error_of([&] { run_cv(small); }), "fewer than 3 (use fewer --folds)"));
  auto no_data = tiny(out, 2, 0);
  no_data.data = (tmp_.path() / "nowhere").string();
  EXPECT_TRUE(test::contains(test::error_of([&] { run_cv(no_data); }), "data folder not found"));
  // A non-empty folder is replaced only with --force, and only if an earlier
  // cross-validation wrote it; the data folder never.
  const fs::path other = tmp_.path() / "not-cv";
  test::write_file(other / "keep.txt", "mine");
  auto o = tiny(other, 2, 0);
  EXPECT_TRUE(test::contains(test::error_of([&] { run_cv(o); }), "exists and is not empty"));
  o.force = true;
  EXPECT_TRUE(test::contains(test::error_of([&] { run_cv(o); }), "not a cross-validation folder"));
  EXPECT_EQ(test::read_file(other / "keep.txt"), "mine");
  auto onto_data = tiny(data(), 2, 0);
  onto_data.force = true;
  EXPECT_TRUE(test::contains(test::error_of([&] { run_cv(onto_data); }), "holds the input"));
  EXPECT_TRUE(fs::is_regular_file(data() / "corpus.jsonl"));
  // An earlier run's folder is replaced with --force.
  test::write_file(out / "cv.json", "{}");
  test::write_file(out / "stale.txt", "old");
  auto again = tiny(out, 2, 0);
  again.force = true;
  run_cv(again);
  EXPECT_FALSE(fs::exists(out / "stale.txt"));
  EXPECT_TRUE(fs::is_regular_file(out / "cv.json"));
}

}  // namespace
}  // namespace funnel::experiments
