// The pre-rank stage in a cascade: its scores are the serving scorer's, the
// fusion with BM25 is the trainer's formula to the bit, the evaluator gets
// its AUCs, and an index keeps the embeddings version it opened.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "fixture.h"
#include "funnel/error.h"
#include "funnel/eval.h"
#include "funnel/index.h"
#include "funnel/metrics.h"
#include "funnel/pipeline.h"
#include "funnel/prerank_scorer.h"
#include "prerank/prerank_model.h"
#include "test_util.h"
#include "train/prerank/cascade_check.h"

namespace funnel::prerank {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

json prerank_cascade(std::size_t depth, std::size_t keep, const json& extra = json::object()) {
  json prerank = {{"name", "prerank"}, {"type", "prerank"}, {"keep", keep}};
  for (auto it = extra.begin(); it != extra.end(); ++it) prerank[it.key()] = it.value();
  return {{"stages",
           {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", depth}}}}}, prerank}}};
}

TEST(PrerankStage, ScoresAreTheServingScorersAndTheEvaluatorGetsItsAucs) {
  auto index = Index::open(test::index_dir());
  Pipeline p(index, prerank_cascade(200, 50));
  EXPECT_TRUE(p.stage_scores(1));
  EXPECT_FALSE(p.stage_scores(0));
  const auto queries = read_queries(test::world_dir() / "queries.jsonl");
  // score_rows gives the stage's own scores, in input order.
  auto model = PrerankModel::load(test::models_dir());
  const std::vector<std::uint32_t> some{5, 1, 900};
  const auto direct = p.score_rows(1, queries[0].text, some);
  const auto q0 = model->encode_queries({queries[0].text});
  std::vector<float> ref(3);
  PrerankScorer(index->embeddings(), {Matcher::kSoftAttention, static_cast<float>(model->config().beta), false, nullptr})
      .score(q0, static_cast<std::uint32_t>(model->config().nq), some, ref);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(direct[i], ref[i]);
  EXPECT_TRUE(test::contains(test::error_of([&] { p.score_rows(0, queries[0].text, some); }), "does not score"));
  // The evaluator asks the stages, not their type names, which score.
  auto imps = read_impressions(test::world_dir() / "impressions.jsonl");
  const Qrels labels = read_qrels(test::world_dir() / "human_labels.tsv");
  const Qrels test_qrels = load_qrels(test::world_dir(), "test");
  EvalOptions eo;
  eo.k = 50;
  eo.impressions = &imps;
  eo.human_labels = &labels;
  const EvalResult er = evaluate(p, queries, test_qrels, eo);
  ASSERT_EQ(er.stages.size(), 2u);
  EXPECT_TRUE(std::isnan(er.stages[0].auc));  // recall does not score
  EXPECT_FALSE(std::isnan(er.stages[1].auc));
  EXPECT_FALSE(std::isnan(er.stages[1].gauc));
  // The label AUC is the model's own: recomputed here from the libtorch
  // model's scores of the same (query, labelled doc) pairs.
  const Corpus corpus = read_corpus(test::world_dir() / "corpus.jsonl");
  std::vector<float> scores, truth;
  for (const auto& q : queries) {
    auto t = test_qrels.find(q.id);
    auto h = labels.find(q.id);
    if (t == test_qrels.end() || h == labels.end()) continue;
    if (std::none_of(t->second.begin(), t->second.end(), [](const auto& kv) { return kv.second > 0; })) continue;
    std::vector<std::uint32_t> rows;
    for (const auto& [doc, grade] : h->second) {
      rows.push_back(*corpus.find(doc));
      truth.push_back(grade >= 2 ? 1.0f : 0.0f);
    }
    for (float s : model->score(q.text, corpus, rows)) scores.push_back(s);
  }
  ASSERT_GT(scores.size(), 20u);
  EXPECT_NEAR(er.stages[1].label_auc, metrics::auc(scores, truth), 2e-3);
  const auto js = eval_to_json(er);
  EXPECT_TRUE(js["stages"][1].contains("auc"));
  EXPECT_TRUE(js["stages"][1].contains("label_auc"));
  EXPECT_FALSE(js["stages"][0].contains("auc"));
}

// The trainer's cascade dev check (train/prerank/cascade_check.h) and the
// serving stage fuse the same own scores with the same BM25 scores into the
// same fused scores, to the bit, at every weight the trainer tries.
TEST(PrerankStage, FusionIsTheTrainersToTheBit) {
  auto index = Index::open(test::index_dir());
  const auto queries = read_queries(test::world_dir() / "queries.jsonl");
  Pipeline alone(index, prerank_cascade(200, 200, {{"recall_weight", 0}}));
  for (double w : train::prerank_fusion_grid()) {
    Pipeline fused(index, prerank_cascade(200, 200, {{"recall_weight", w}}));
    for (std::size_t qi = 0; qi < 5; ++qi) {
      Request req;
      req.query = queries[qi].text;
      req.k = 200;
      req.trace_survivors = true;
      const Response a = alone.run(req), f = fused.run(req);
      // The trainer's list: the student's own scores and BM25's, per row.
      std::map<std::uint32_t, float> own, bm25;
      for (std::size_t i = 0; i < a.trace[1].survivors.size(); ++i)
        own[a.trace[1].survivors[i]] = static_cast<float>(a.trace[1].survivor_scores[i]);
      for (std::size_t i = 0; i < a.trace[0].survivors.size(); ++i)
        bm25[a.trace[0].survivors[i]] = static_cast<float>(a.trace[0].survivor_scores[i]);
      train::CheckList list;
      for (const auto& [row, s] : own) {
        list.rows.push_back(row);
        list.own.push_back(s);
        list.recall.push_back(bm25.at(row));
      }
      const auto expected = train::fused_scores(list, w);
      std::map<std::uint32_t, float> served;
      for (std::size_t i = 0; i < f.trace[1].survivors.size(); ++i)
        served[f.trace[1].survivors[i]] = static_cast<float>(f.trace[1].survivor_scores[i]);
      ASSERT_EQ(served.size(), list.rows.size());
      for (std::size_t i = 0; i < list.rows.size(); ++i) ASSERT_EQ(served.at(list.rows[i]), expected[i]) << "w " << w;
    }
  }
}

TEST(PrerankStage, FusionAddsTheScaledBm25AndRefusesBadWeights) {
  auto index = Index::open(test::index_dir());
  const auto queries = read_queries(test::world_dir() / "queries.jsonl");
  Pipeline p0(index, prerank_cascade(200, 200, {{"recall_weight", 0.0}}));
  Pipeline p2(index, prerank_cascade(200, 200, {{"recall_weight", 2.0}}));
  Request req;
  req.query = queries[1].text;
  req.k = 200;
  const Response r0 = p0.run(req), r2 = p2.run(req);
  ASSERT_FALSE(r2.items.empty());
  std::map<std::uint32_t, double> alone;
  for (const auto& item : r0.items) alone[item.row] = item.score;
  double best_bm25 = 0;
  for (const auto& item : r2.items) best_bm25 = std::max(best_bm25, item.marks.at(0).score);
  for (const auto& item : r2.items) {
    ASSERT_TRUE(alone.count(item.row));
    EXPECT_NEAR(item.score - alone[item.row], 2.0 * item.marks.at(0).score / best_bm25, 1e-4);
  }
  std::string msg = test::error_of([&] { Pipeline(index, prerank_cascade(200, 200, {{"recall_weight", -1.0}}), "cfg"); });
  EXPECT_TRUE(test::contains(msg, "cfg: stages[1]") && test::contains(msg, "recall_weight")) << msg;
  msg = test::error_of([&] { Pipeline(index, prerank_cascade(200, 0), "cfg"); });
  EXPECT_TRUE(test::contains(msg, "field 'keep'")) << msg;
  // Per-request keep, and an override the stage does not know.
  Request k5 = req;
  k5.overrides = {{"prerank", {{"keep", 5}}}};
  EXPECT_EQ(p2.run(k5).items.size(), 5u);
  Request bad = req;
  bad.overrides = {{"prerank", {{"depth", 5}}}};
  msg = test::error_of([&] { p2.run(bad); });
  EXPECT_TRUE(test::contains(msg, "overrides.prerank") && test::contains(msg, "'depth'")) << msg;
}

TEST(PrerankStage, AnIndexKeepsTheEmbeddingsVersionItOpened) {
  test::TempDir tmp;
  fs::copy(test::index_dir(), tmp.path() / "index", fs::copy_options::recursive);
  auto before = Index::open(tmp.path() / "index");
  ASSERT_EQ(before->embeddings()->version(), 1u);
  const Corpus corpus = read_corpus(test::world_dir() / "corpus.jsonl");
  auto encoder = load_doc_encoder(test::models_dir());
  EXPECT_EQ(refresh_embeddings(tmp.path() / "index", corpus, *encoder, Precision::kFp16), 2u);
  EXPECT_EQ(before->embeddings()->version(), 1u);
  auto after = Index::open(tmp.path() / "index");
  EXPECT_EQ(after->embeddings()->version(), 2u);
  EXPECT_EQ(after->embeddings()->spec().precision, Precision::kFp16);
  // The stage serves from either.
  Request req;
  req.query = read_queries(test::world_dir() / "queries.jsonl")[0].text;
  EXPECT_FALSE(Pipeline(before, prerank_cascade(100, 10)).run(req).items.empty());
  EXPECT_FALSE(Pipeline(after, prerank_cascade(100, 10)).run(req).items.empty());
}

}  // namespace
}  // namespace funnel::prerank
