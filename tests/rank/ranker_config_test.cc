// The ranker's config: JSON round trip, refusal of bad configs naming the
// file and the field, and the one weighted sum of head logits.
#include <gtest/gtest.h>

#include <functional>

#include <nlohmann/json.hpp>

#include "rank/ranker_config.h"
#include "test_util.h"

namespace funnel::rank {
namespace {
using nlohmann::json;

TEST(RankConfig, CrossRankerFromJsonRejectsBadConfigs) {
  CrossRankerConfig c;
  c.encoder = nn::encoder_preset("tiny");
  c.n_features = 3;
  c.feature_mean = {0, 0, 0};
  c.feature_std = {1, 2, 3};
  c.feature_names = {"a", "b", "c"};
  c.dnn = {16, 8};
  c.tasks = {"relevance", "click"};
  c.task_weights = {1.0, 0.5};
  c.score_weights = {1.0, 0.0};
  const json good = to_json(c);
  auto back = cross_ranker_from_json(good, "cfg");
  EXPECT_EQ(to_json(back), good);
  auto rejects = [&](const std::string& what, const std::function<void(json&)>& edit, const std::string& says) {
    json j = good;
    edit(j);
    std::string msg = test::error_of([&] { cross_ranker_from_json(j, "where.json"); });
    EXPECT_TRUE(test::contains(msg, "where.json") && test::contains(msg, says)) << what << ": " << msg;
  };
  rejects("unknown task", [](json& j) { j["tasks"] = {"relevance", "dwell"}; }, "'dwell'");
  rejects("task_weights too short", [](json& j) { j["task_weights"] = {1.0}; }, "task_weights");
  rejects("task_weights too long", [](json& j) { j["task_weights"] = {1.0, 0.5, 0.2}; }, "task_weights");
  rejects("score_weights too short", [](json& j) { j["score_weights"] = {1.0}; }, "score_weights");
  rejects("no tower", [](json& j) { j["use_text"] = false; j["use_features"] = false; }, "use_text");
  rejects("zero std", [](json& j) { j["feature_std"] = {1.0, 0.0, 1.0}; }, "feature_std");
  rejects("negative std", [](json& j) { j["feature_std"] = {1.0, -1.0, 1.0}; }, "feature_std");
  rejects("empty dnn", [](json& j) { j["dnn"] = json::array(); }, "dnn");
  rejects("zero-width dnn", [](json& j) { j["dnn"] = {16, 0}; }, "dnn");
  rejects("no tasks", [](json& j) { j["tasks"] = json::array(); j["task_weights"] = json::array(); j["score_weights"] = json::array(); }, "tasks");
  rejects("feature count", [](json& j) { j["feature_mean"] = {0.0, 0.0}; }, "n_features");
  rejects("missing field", [](json& j) { j.erase("dnn"); }, "dnn");
  rejects("wrong type", [](json& j) { j["use_text"] = "yes"; }, "where.json");
}

TEST(RankConfig, WeightedScoresSumTheHeadsInTaskOrder) {
  // Two rows, three tasks.
  const std::vector<float> logits = {1.0f, -2.0f, 0.5f, 3.0f, 0.25f, -1.0f};
  EXPECT_EQ(weighted_scores(logits, 3, {1, 0, 0}), (std::vector<float>{1.0f, 3.0f}));
  const auto s = weighted_scores(logits, 3, {0.5, 2, -1});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_FLOAT_EQ(s[0], 0.5f * 1.0f + 2.0f * -2.0f - 0.5f);
  EXPECT_FLOAT_EQ(s[1], 0.5f * 3.0f + 2.0f * 0.25f + 1.0f);
  EXPECT_TRUE(weighted_scores({}, 3, {1, 0, 0}).empty());
  const auto& tasks = all_rank_tasks();
  EXPECT_EQ(tasks.front(), "relevance");
  EXPECT_EQ(tasks.size(), 7u);
}

}  // namespace
}  // namespace funnel::rank
