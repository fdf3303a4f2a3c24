// The shared part of scoring stages (ScoringStage): the keep option and its
// override, the order (score descending, then row ascending), the fusion
// with a recall channel's score, and score() for offline metrics.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "test_util.h"

namespace funnel {
namespace {
using nlohmann::json;

// Scores row r as score_of[r % score_of.size()].
class TableStage final : public ScoringStage {
 public:
  TableStage(const json& cfg, std::vector<float> score_of, RecallFusion fusion = {})
      : ScoringStage(cfg, 3, "cfg"), score_of_(std::move(score_of)) {
    fusion_ = fusion;
  }

 private:
  void own_scores(const StageContext&, std::span<Candidate> cands, std::span<float> out) const override {
    for (std::size_t i = 0; i < cands.size(); ++i) out[i] = score_of_[cands[i].row % score_of_.size()];
  }
  std::vector<float> score_of_;
};

// A real (empty) index is not needed: stages get it through the context only.
struct Fixture {
  test::TempDir tmp;
  std::shared_ptr<const Index> index;
  Request request;
  Fixture() {
    Corpus c;
    Doc d;
    d.id = "d0";
    d.title = "x";
    c.docs.push_back(d);
    c.row_of["d0"] = 0;
    build_index(c, tmp.path() / "index", IndexOptions{});
    index = Index::open(tmp.path() / "index");
    request.query = "q";
  }
  StageContext ctx(const json& overrides) const { return StageContext{*index, request, overrides, "table"}; }
};

std::vector<Candidate> candidates(std::initializer_list<std::uint32_t> rows) {
  std::vector<Candidate> out;
  for (auto r : rows) {
    Candidate c;
    c.row = r;
    out.push_back(c);
  }
  return out;
}

std::vector<std::uint32_t> rows_of(const std::vector<Candidate>& c) {
  std::vector<std::uint32_t> r;
  for (const auto& x : c) r.push_back(x.row);
  return r;
}

TEST(ScoringStage, KeepsTheBestByScoreThenRow) {
  Fixture f;
  // rows 0..5 score 1, 3, 2, 3, 0, 2: ties broken by the lower row.
  TableStage s(json::object(), {1, 3, 2, 3, 0, 2});
  EXPECT_TRUE(s.scores());
  auto c = candidates({5, 4, 3, 2, 1, 0});
  s.run(f.ctx(json::object()), c);  // keep 3 by default
  EXPECT_EQ(rows_of(c), (std::vector<std::uint32_t>{1, 3, 2}));
  EXPECT_EQ(c[0].score, 3.0);
  EXPECT_EQ(c[2].score, 2.0);
  auto all = candidates({5, 4, 3, 2, 1, 0});
  s.run(f.ctx({{"keep", 10}}), all);
  EXPECT_EQ(rows_of(all), (std::vector<std::uint32_t>{1, 3, 2, 5, 0, 4}));
  TableStage five({{"keep", 5}}, {1, 3, 2, 3, 0, 2});
  auto c5 = candidates({0, 1, 2, 3, 4, 5});
  five.run(f.ctx(json::object()), c5);
  EXPECT_EQ(c5.size(), 5u);
}

TEST(ScoringStage, ScoreKeepsEveryCandidateInPlace) {
  Fixture f;
  TableStage s(json::object(), {1, 3, 2});
  auto c = candidates({2, 0, 1, 5});
  s.score(f.ctx(json::object()), c);
  EXPECT_EQ(rows_of(c), (std::vector<std::uint32_t>{2, 0, 1, 5}));
  EXPECT_EQ(c[0].score, 2.0);
  EXPECT_EQ(c[1].score, 1.0);
  EXPECT_EQ(c[3].score, 2.0);
}

TEST(ScoringStage, FusesTheRecallScoreWithTheHybridWeightWhenOtherChannelsFoundSome) {
  Fixture f;
  const std::uint32_t bm25 = channel_bit("bm25"), ann = channel_bit("ann");
  RecallFusion fusion;
  fusion.weight = 2;
  fusion.hybrid_weight = 0.5;
  TableStage s(json::object(), {1}, fusion);
  auto c = candidates({0, 1, 2});
  // BM25 scores 4, 2 and none (an ANN-only candidate).
  for (std::size_t i = 0; i < 2; ++i) {
    c[i].channels |= 1u << bm25;
    c[i].channel_scores[c[i].n_channel_scores++] = {bm25, i == 0 ? 4.0f : 2.0f};
  }
  c[2].channels |= 1u << ann;
  s.score(f.ctx(json::object()), c);
  EXPECT_FLOAT_EQ(static_cast<float>(c[0].score), 1 + 0.5f * 4 / 4);
  EXPECT_FLOAT_EQ(static_cast<float>(c[1].score), 1 + 0.5f * 2 / 4);
  EXPECT_EQ(c[2].score, 1.0);
  // BM25 alone: the plain weight.
  auto b = candidates({0, 1});
  for (auto& x : b) {
    x.channels |= 1u << bm25;
    x.channel_scores[x.n_channel_scores++] = {bm25, 4.0f};
  }
  s.score(f.ctx(json::object()), b);
  EXPECT_FLOAT_EQ(static_cast<float>(b[0].score), 1 + 2.0f);
}

TEST(ScoringStage, BadKeepAndUnknownOverridesNameTheirPlace) {
  Fixture f;
  EXPECT_TRUE(test::contains(test::error_of([] { TableStage({{"keep", 0}}, {1}); }), "cfg: field 'keep'"));
  EXPECT_TRUE(test::contains(test::error_of([] { TableStage({{"keep", -2}}, {1}); }), "cfg: field 'keep'"));
  TableStage s(json::object(), {1});
  auto c = candidates({0});
  EXPECT_TRUE(test::contains(test::error_of([&] { s.run(f.ctx({{"keep", 0}}), c); }), "request: overrides.table: field 'keep'"));
  EXPECT_TRUE(test::contains(test::error_of([&] { s.run(f.ctx({{"weight", 1}}), c); }), "unknown field 'weight'"));
}

// A stage that does not score refuses score().
class NoScore final : public Stage {
 public:
  void run(const StageContext&, std::vector<Candidate>&) const override {}
};

TEST(Stage, ANonScoringStageRefusesScore) {
  Fixture f;
  NoScore s;
  EXPECT_FALSE(s.scores());
  auto c = candidates({0});
  EXPECT_THROW(s.score(f.ctx(json::object()), c), Error);
}

}  // namespace
}  // namespace funnel
