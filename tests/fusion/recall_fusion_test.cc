// The one fusion formula and tie-break (funnel/fusion.h), and the
// fusion.json file against hand-computed values and bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "funnel/error.h"
#include "funnel/fusion.h"
#include "test_util.h"

namespace funnel {
namespace {

TEST(FuseRecallScores, AddsTheWeightedShareOfTheBestRecallScore) {
  std::vector<float> own = {1.0f, 0.5f, 2.0f, -1.0f};
  const std::vector<float> recall = {8.0f, 2.0f, 0.0f, 4.0f};  // row 2: not found by the channel
  fuse_recall_scores(own, recall, 2.0);
  EXPECT_EQ(own[0], 1.0f + 2.0f * 8.0f / 8.0f);
  EXPECT_EQ(own[1], 0.5f + 2.0f * 2.0f / 8.0f);
  EXPECT_EQ(own[2], 2.0f);
  EXPECT_EQ(own[3], -1.0f + 2.0f * 4.0f / 8.0f);
  // Weight 0 or no recall score above 0: nothing changes.
  std::vector<float> a = {1, 2}, b = {1, 2};
  fuse_recall_scores(a, std::vector<float>{3, 4}, 0.0);
  fuse_recall_scores(b, std::vector<float>{0, 0}, 5.0);
  EXPECT_EQ(a, (std::vector<float>{1, 2}));
  EXPECT_EQ(b, (std::vector<float>{1, 2}));
}

TEST(FuseRecallScores, ComputesInFloatInOneOrder) {
  // w * r / top in float: 0.1f * 3 / 7 differs from the double formula.
  std::vector<float> own = {0.0f};
  fuse_recall_scores(own, std::vector<float>{3.0f}, 0.1);
  EXPECT_EQ(own[0], 0.1f * 3.0f / 3.0f);
  std::vector<float> two = {0.0f, 0.0f};
  fuse_recall_scores(two, std::vector<float>{3.0f, 7.0f}, 0.1);
  EXPECT_EQ(two[0], 0.1f * 3.0f / 7.0f);
}

TEST(Order, ScoreDescendingThenRowAscending) {
  EXPECT_TRUE(ranks_before(2.0, 9, 1.0, 0));
  EXPECT_TRUE(ranks_before(1.0, 3, 1.0, 4));
  EXPECT_FALSE(ranks_before(1.0, 4, 1.0, 3));
  EXPECT_FALSE(ranks_before(1.0, 3, 1.0, 3));
  const std::vector<float> scores = {1, 3, 2, 3, 0};
  const std::vector<std::uint32_t> rows = {10, 11, 12, 9, 13};
  EXPECT_EQ(best_indices(scores, rows, 3), (std::vector<std::size_t>{3, 1, 2}));
  EXPECT_EQ(best_indices(scores, rows, 10).size(), 5u);
  const auto t = top_n(rows, scores, 2);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0], (std::pair<std::uint32_t, float>{9, 3.0f}));
  EXPECT_EQ(t[1], (std::pair<std::uint32_t, float>{11, 3.0f}));
  EXPECT_THROW(best_indices(scores, std::vector<std::uint32_t>{1, 2}, 1), Error);
}

TEST(RecallFusion, HybridWeightFallsBackToTheWeight) {
  RecallFusion f;
  f.weight = 1.5;
  EXPECT_EQ(f.weight_for(true), 1.5);
  f.hybrid_weight = 0.25;
  EXPECT_EQ(f.weight_for(true), 0.25);
  EXPECT_EQ(f.weight_for(false), 1.5);
}

TEST(FusionFile, RoundTripsAndRefusesBadFiles) {
  test::TempDir tmp;
  const auto path = tmp.path() / "fusion.json";
  RecallFusion f;
  f.weight = 0.75;
  f.hybrid_weight = 0.2;
  write_fusion_file(path, f, {{"epoch", 3}, {"fitted", "dev"}});
  const RecallFusion back = read_fusion_file(path);
  EXPECT_EQ(back.weight, 0.75);
  EXPECT_EQ(back.hybrid_weight, 0.2);
  EXPECT_EQ(back.channel, "bm25");
  EXPECT_TRUE(test::contains(test::read_file(path), "\"epoch\": 3"));
  RecallFusion plain;
  plain.weight = 1;
  write_fusion_file(path, plain);
  EXPECT_TRUE(std::isnan(read_fusion_file(path).hybrid_weight));
  // Bad weights are refused before anything is written.
  RecallFusion bad;
  bad.weight = -1;
  EXPECT_THROW(write_fusion_file(tmp.path() / "bad.json", bad), Error);
  EXPECT_FALSE(std::filesystem::exists(tmp.path() / "bad.json"));
  for (const char* text : {"{", "[]", "{\"recall_channel\": \"bm25\"}", "{\"recall_weight\": -2}",
                           "{\"recall_weight\": \"x\"}", "{\"recall_weight\": 1, \"recall_channel\": \"\"}"}) {
    test::write_file(path, text);
    const std::string msg = test::error_of([&] { read_fusion_file(path); });
    EXPECT_TRUE(test::contains(msg, path.string())) << text << ": " << msg;
  }
  EXPECT_TRUE(test::contains(test::error_of([&] { read_fusion_file(tmp.path() / "none.json"); }), "cannot open"));
}

TEST(FusionConfig, TheStageConfigOverridesTheFittedWeight) {
  RecallFusion f;
  f.weight = 1;
  f.hybrid_weight = 0.5;
  const RecallFusion same = apply_fusion_config(f, nlohmann::json::object(), "cfg");
  EXPECT_EQ(same.weight, 1);
  EXPECT_EQ(same.hybrid_weight, 0.5);
  const RecallFusion over = apply_fusion_config(f, {{"recall_weight", 3}, {"recall_channel", "ann"}}, "cfg");
  EXPECT_EQ(over.weight, 3);
  EXPECT_EQ(over.weight_for(true), 3);  // the config's weight is used for hybrid recall too
  EXPECT_EQ(over.channel, "ann");
  EXPECT_TRUE(test::contains(test::error_of([&] { apply_fusion_config(f, {{"recall_weight", -1}}, "cfg"); }), "cfg: field 'recall_weight'"));
}

}  // namespace
}  // namespace funnel
