// The multi-objective fusion stages in a cascade: formula (sum, product),
// ensemble_sort, per-request weight overrides, tuned weights from the
// models folder, and the replay API (run_prefix / run_from) the tuner uses.
#include <gtest/gtest.h>

#include "funnel/error.h"
#include "fusion/fusion_inputs.h"
#include "fusion/gbdt.h"
#include "fusion/learned_stages.h"
#include "fusion/pairwise_ltr.h"
#include "stage_world.h"

namespace funnel {
namespace {
using nlohmann::json;
using test::ids;

Request request(const json& overrides = json::object(), std::size_t k = 5) {
  Request r;
  r.query = "clip";
  r.k = k;
  r.overrides = overrides;
  return r;
}

TEST(FusionStage, FormulaWeightsDecideTheOrder) {
  test::StageWorld w;
  // Score alone: rows 0, 1, 2, ... (the score falls with the row).
  Pipeline by_score(w.index, w.cascade({{{"name", "fusion"}, {"type", "formula"}, {"weights", {{"score", 1}}}}}));
  EXPECT_EQ(ids(by_score.run(request())), (std::vector<std::string>{"d0", "d1", "d2", "d3", "d4"}));
  // Watch alone: the reverse.
  EXPECT_EQ(ids(by_score.run(request({{"fusion", {{"weights", {{"score", 0}, {"watch", 1}}}}}}))),
            (std::vector<std::string>{"d11", "d10", "d9", "d8", "d7"}));
  // A weight per input: score - 1 point per row, watch + 0.05 * 30 = 1.5 per row.
  EXPECT_EQ(ids(by_score.run(request({{"fusion", {{"weights", {{"watch", 30}}}}}})))[0], "d11");
  EXPECT_EQ(ids(by_score.run(request({{"fusion", {{"weights", {{"watch", 10}}}}}})))[0], "d0");
  // The category flag is an input too.
  EXPECT_EQ(ids(by_score.run(request({{"fusion", {{"weights", {{"category=long", 5}}}}}})))[0], "d1");
}

TEST(FusionStage, ProductOfPowers) {
  test::StageWorld w;
  Pipeline p(w.index, w.cascade({{{"name", "fusion"}, {"type", "formula"}, {"combine", "product"},
                                   {"weights", {{"watch", 1}, {"click", 1}}}, {"offsets", {{"watch", 0.001}}}}}));
  // (0.001 + watch) * (0.01 + click): odd rows have click 0.3, watch grows.
  EXPECT_EQ(ids(p.run(request()))[0], "d11");
  EXPECT_EQ(p.stage_info(2)["combine"], "product");
}

TEST(FusionStage, EnsembleSortUsesRanksOnly) {
  test::StageWorld w;
  Pipeline p(w.index, w.cascade({{{"name", "fusion"}, {"type", "ensemble_sort"}, {"weights", {{"score", 1}, {"watch", 1}}}}}));
  // Equal weights on two opposite orders: every candidate ties except by
  // the rank sums' rounding; the tie-break is the lower row.
  const auto r = p.run(request(json::object(), 12));
  ASSERT_EQ(r.items.size(), 12u);
  Pipeline watch_heavy(w.index, w.cascade({{{"name", "fusion"}, {"type", "ensemble_sort"}, {"k", 1},
                                             {"weights", {{"score", 1}, {"watch", 3}}}}}));
  EXPECT_EQ(ids(watch_heavy.run(request()))[0], "d11");
}

TEST(FusionStage, TunedWeightsAreReadFromTheModelsFolder) {
  test::StageWorld w;
  const json no_weights = w.cascade({{{"name", "fusion"}, {"type", "formula"}}});
  Pipeline defaults(w.index, no_weights);
  EXPECT_EQ(defaults.stage_info(2)["weights_source"], "default");
  EXPECT_THROW(Pipeline(w.index, w.cascade({{{"name", "fusion"}, {"type", "formula"}, {"weights", "tuned"}}})), Error);
  test::write_file(fusion::tuned_file(w.models(), "formula"), R"({"type": "formula", "weights": {"watch": 1}})");
  Pipeline tuned(w.index, no_weights);
  EXPECT_EQ(tuned.stage_info(2)["weights_source"], fusion::tuned_file(w.models(), "formula").string());
  EXPECT_EQ(ids(tuned.run(request()))[0], "d11");
  Pipeline explicit_tuned(w.index, w.cascade({{{"name", "fusion"}, {"type", "formula"}, {"weights", "tuned"}}}));
  EXPECT_EQ(ids(explicit_tuned.run(request()))[0], "d11");
  // Weights in the config win over the file.
  Pipeline config(w.index, w.cascade({{{"name", "fusion"}, {"type", "formula"}, {"weights", {{"score", 1}}}}}));
  EXPECT_EQ(ids(config.run(request()))[0], "d0");
  test::write_file(fusion::tuned_file(w.models(), "formula"), "{not json");
  EXPECT_THROW(Pipeline(w.index, no_weights), Error);
}

TEST(FusionStage, BadInputIsAClearError) {
  test::StageWorld w;
  Pipeline p(w.index, w.cascade({{{"name", "fusion"}, {"type", "formula"}, {"weights", {{"score", 1}}}}}));
  try {
    p.run(request({{"fusion", {{"weights", {{"views", 1}}}}}}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no input 'views'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("watch"), std::string::npos) << e.what();
  }
  EXPECT_THROW(p.run(request({{"fusion", {{"weights", {{"score", "high"}}}}}})), Error);
  EXPECT_THROW(p.run(request({{"fusion", {{"theta", 1}}}})), Error);
  // Without a rank stage before it there is no pXtr.
  json no_rank = json::object();
  no_rank["stages"] = json::array({json{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}}}}},
                                   json{{"name", "fusion"}, {"type", "formula"}, {"weights", {{"watch", 1}}}}});
  Pipeline bad(w.index, no_rank);
  try {
    bad.run(request());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank stage"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Pipeline(w.index, w.cascade({{{"name", "fusion"}, {"type", "formula"}, {"combine", "max"}}})), Error);
  EXPECT_THROW(Pipeline(w.index, w.cascade({{{"name", "fusion"}, {"type", "formula"}, {"wieghts", {}}}})), Error);
}

TEST(Pipeline, RunFromTheCachedPrefixEqualsRun) {
  test::StageWorld w;
  Pipeline p(w.index, w.cascade({{{"name", "fusion"}, {"type", "formula"}, {"weights", {{"score", 1}, {"watch", 25}}}}}));
  const Request r = request(json::object(), 8);
  const Response full = p.run(r);
  auto cands = p.run_prefix(r, 2);
  ASSERT_EQ(cands.size(), w.n);
  const Response replay = p.run_from(r, 2, cands);
  EXPECT_EQ(ids(replay), ids(full));
  ASSERT_EQ(replay.trace.size(), 3u);
  EXPECT_EQ(replay.trace[0].name, "recall");
  EXPECT_EQ(replay.trace[2].in, w.n);
  for (std::size_t i = 0; i < full.items.size(); ++i) {
    EXPECT_EQ(replay.items[i].score, full.items[i].score);
    EXPECT_EQ(replay.items[i].marks.size(), full.items[i].marks.size());
  }
  EXPECT_THROW(p.run_prefix(r, 4), Error);
  EXPECT_THROW(p.run_from(r, 4, cands), Error);
}

TEST(LearnedFusion, GbdtStageRanksByTheTreesPlusHandTerms) {
  test::StageWorld w;
  // Trees that learned "watch is good": label = watch > 0.3 on a grid.
  std::vector<float> x, labels;
  for (int i = 0; i < 400; ++i) {
    const float watch = static_cast<float>(i % 20) * 0.05f, score = static_cast<float>(i % 7);
    x.insert(x.end(), {score, watch});
    labels.push_back(watch > 0.3f ? 1.0f : 0.0f);
  }
  fusion::GbdtParams gp;
  gp.rounds = 20;
  auto model = fusion::GbdtModel::train({x, 400, 2, labels, {}}, nullptr, {"score", "watch"}, gp);
  std::filesystem::create_directories(w.models() / "fusion");
  model.save(fusion::gbdt_file(w.models()));
  Pipeline p(w.index, w.cascade({{{"name", "fusion"}, {"type", "gbdt"}}}));
  const auto top = test::ids(p.run(request(json::object(), 12)));
  // Rows 7..11 have watch > 0.3: they come first (ties by the lower row).
  EXPECT_EQ(std::vector<std::string>(top.begin(), top.begin() + 5),
            (std::vector<std::string>{"d7", "d8", "d9", "d10", "d11"}));
  EXPECT_EQ(p.stage_info(2)["features"], json({"score", "watch"}));
  // A hand term on top of the trees, per request.
  const auto with_score = test::ids(p.run(request({{"fusion", {{"weights", {{"score", 100}}}}}})));
  EXPECT_EQ(with_score[0], "d0");
  std::filesystem::remove(fusion::gbdt_file(w.models()));
  EXPECT_THROW(Pipeline(w.index, w.cascade({{{"name", "fusion"}, {"type", "gbdt"}}})), Error);
}

TEST(LearnedFusion, LtrStageUsesTheLearnedWeightsUnlessOverridden) {
  test::StageWorld w;
  EXPECT_THROW(Pipeline(w.index, w.cascade({{{"name", "fusion"}, {"type", "ltr"}}})), Error);
  fusion::LtrModel m;
  m.weights = {0.0, 10.0};
  m.mean = {0, 0};
  m.scale = {1, 1};
  test::write_file(fusion::ltr_file(w.models()),
                   json{{"features", {"score", "watch"}}, {"ltr", fusion::ltr_to_json(m)}}.dump());
  Pipeline p(w.index, w.cascade({{{"name", "fusion"}, {"type", "ltr"}}}));
  EXPECT_EQ(test::ids(p.run(request()))[0], "d11");
  EXPECT_EQ(test::ids(p.run(request({{"fusion", {{"weights", {{"watch", 0}, {"score", 1}}}}}})))[0], "d0");
  test::write_file(fusion::ltr_file(w.models()), json{{"features", {"score"}}, {"ltr", fusion::ltr_to_json(m)}}.dump());
  EXPECT_THROW(Pipeline(w.index, w.cascade({{{"name", "fusion"}, {"type", "ltr"}}})), Error);
}

}  // namespace
}  // namespace funnel
