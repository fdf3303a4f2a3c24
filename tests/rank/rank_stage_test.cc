// The rank stage in a cascade: pXtr on every item, score weights from the
// config and per request, fusion with BM25, the corpus it reads, and the
// serving score equal bit for bit to the trainer's dev check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "fixture.h"
#include "funnel/data.h"
#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/metrics.h"
#include "funnel/pipeline.h"
#include "rank/ranker_model.h"
#include "test_util.h"

namespace funnel::rank {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

json rank_cascade(const fs::path& models, const json& rank_extra) {
  json rank = {{"name", "rank"}, {"type", "rank"}, {"keep", 10}, {"models", models.string()}};
  for (auto it = rank_extra.begin(); it != rank_extra.end(); ++it) rank[it.key()] = it.value();
  return {{"stages",
           {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", 50}}}}}, rank}}};
}

TEST(RankStage, SetsPxtrAndFollowsScoreWeights) {
  test::TempDir tmp;
  auto index = Index::open(test::index_dir());
  // recall_weight 0: the score is the model's alone (fusion is checked below).
  Pipeline p(index, rank_cascade(test::models_dir(), {{"corpus", test::world_dir().string()}, {"recall_weight", 0}}));
  EXPECT_EQ(p.stage_types(), (std::vector<std::string>{"recall", "rank"}));
  auto m = RankerModel::load(test::models_dir(), test::world_corpus());
  const auto& tasks = m->config().tasks;
  const std::size_t T = tasks.size();
  const std::size_t click = static_cast<std::size_t>(std::find(tasks.begin(), tasks.end(), "click") - tasks.begin());
  ASSERT_LT(click, T);
  const auto queries = read_queries(test::world_dir() / "queries.jsonl");
  int checked = 0;
  bool click_order_differs = false;
  for (std::size_t qi = 0; qi < 8; ++qi) {
    Request req;
    req.query = queries[qi].text;
    req.k = 10;
    Response resp = p.run(req);
    if (resp.items.empty()) continue;
    ASSERT_EQ(resp.trace.size(), 2u);
    EXPECT_LE(resp.items.size(), 10u);
    EXPECT_EQ(resp.trace[1].out, resp.items.size());
    std::vector<std::uint32_t> rows;
    for (std::size_t i = 0; i < resp.items.size(); ++i) {
      const auto& it = resp.items[i];
      rows.push_back(it.row);
      ASSERT_EQ(it.pxtr.size(), T) << it.doc_id;
      for (std::size_t t = 0; t < T; ++t) EXPECT_EQ(it.pxtr[t].first, tasks[t]);
      EXPECT_NEAR(it.pxtr[0].second, it.score, 1e-5);  // relevance: the score (default weights)
      for (std::size_t t = 1; t < T; ++t) {
        EXPECT_GT(it.pxtr[t].second, 0.0) << tasks[t];
        EXPECT_LT(it.pxtr[t].second, 1.0) << tasks[t];
      }
      if (i > 0) {
        EXPECT_GE(resp.items[i - 1].score, it.score);
      }
    }
    // The stage's predictions are the model's.
    auto logits = m->predict(req.query, rows);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      EXPECT_NEAR(resp.items[i].pxtr[0].second, logits[i * T], 1e-4);
      EXPECT_NEAR(resp.items[i].pxtr[click].second, 1.0 / (1.0 + std::exp(-logits[i * T + click])), 1e-5);
    }
    // Re-weighted per request: the click head alone orders the items.
    Request creq = req;
    creq.overrides = {{"rank", {{"score_weights", {{"click", 1}}}}}};
    Response cresp = p.run(creq);
    ASSERT_EQ(cresp.items.size(), resp.items.size());
    for (std::size_t i = 0; i < cresp.items.size(); ++i) {
      const auto& it = cresp.items[i];
      const double pc = it.pxtr[click].second;
      EXPECT_NEAR(it.score, std::log(pc / (1 - pc)), 1e-4) << it.doc_id;
      if (i > 0) {
        EXPECT_GE(cresp.items[i - 1].score, it.score);
      }
    }
    for (std::size_t i = 0; i < cresp.items.size(); ++i)
      click_order_differs = click_order_differs || cresp.items[i].row != resp.items[i].row;
    ++checked;
  }
  EXPECT_GE(checked, 5);
  EXPECT_TRUE(click_order_differs);  // the override took effect
  // An unknown task in the request's weights or in the config.
  Request bad;
  bad.query = queries[0].text;
  bad.overrides = {{"rank", {{"score_weights", {{"dwell", 1}}}}}};
  std::string msg = test::error_of([&] { p.run(bad); });
  EXPECT_TRUE(test::contains(msg, "'dwell'")) << msg;
  msg = test::error_of([&] { Pipeline(index, rank_cascade(test::models_dir(), {{"score_weights", {{"dwell", 1}}}})); });
  EXPECT_TRUE(test::contains(msg, "'dwell'")) << msg;
  // Fusion with BM25: score = relevance logit + w x BM25 / the request's
  // best BM25, so the difference lies in [0, w] and is w for BM25's top doc.
  {
    Pipeline pf(index, rank_cascade(test::models_dir(), {{"recall_weight", 2.0}}));
    int top_seen = 0;
    for (std::size_t qi = 0; qi < 10 && qi < queries.size(); ++qi) {
      Request fr;
      fr.query = queries[qi].text;
      for (const auto& it : pf.run(fr).items) {
        const double diff = it.score - it.pxtr[0].second;
        EXPECT_GE(diff, -1e-4) << it.doc_id;
        EXPECT_LE(diff, 2.0 + 1e-4) << it.doc_id;
        if (it.marks[0].rank == 1) {
          EXPECT_NEAR(diff, 2.0, 1e-4) << it.doc_id;
          ++top_seen;
        }
      }
    }
    EXPECT_GT(top_seen, 0);
    msg = test::error_of([&] { Pipeline(index, rank_cascade(test::models_dir(), {{"recall_weight", -1}})); });
    EXPECT_TRUE(test::contains(msg, "recall_weight")) << msg;
  }
  // Without "corpus" the stage reads the training data (data.json).
  Pipeline p2(index, rank_cascade(test::models_dir(), {{"recall_weight", 0}}));
  Request req;
  req.query = queries[0].text;
  auto r1 = p.run(req), r2 = p2.run(req);
  ASSERT_EQ(r1.items.size(), r2.items.size());
  for (std::size_t i = 0; i < r1.items.size(); ++i) EXPECT_EQ(r1.items[i].row, r2.items[i].row);
  // A corpus whose doc count differs from the index's.
  {
    std::ifstream in(test::world_dir() / "corpus.jsonl");
    std::string line, head;
    for (int i = 0; i < 100 && std::getline(in, line); ++i) head += line + "\n";
    test::write_file(tmp.path() / "small" / "corpus.jsonl", head);
  }
  msg = test::error_of([&] { Pipeline(index, rank_cascade(test::models_dir(), {{"corpus", (tmp.path() / "small").string()}})); });
  EXPECT_TRUE(test::contains(msg, "100 docs")) << msg;
}

// The trainer fitted its BM25 weight on dev lists it scored itself; the
// stage serving BM25's candidates for the same query, with the channel's
// BM25 scores, gives exactly the fused scores the trainer saw.
TEST(RankStage, ServingScoreIsTheTrainersDevCheckScoreBitForBit) {
  auto index = Index::open(test::index_dir());
  std::ifstream in(test::models_dir() / "rank" / "dev_check.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  const json head = json::parse(line);
  const std::size_t depth = head.at("candidate_depth");
  ASSERT_EQ(head.at("fusion_weight").get<double>(), test::fixture_json("ranker.json").at("fusion_weight").get<double>());
  Pipeline p(index, json{{"stages",
                          {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", depth}}}}},
                           {{"name", "rank"}, {"type", "rank"}, {"keep", depth}}}}});
  std::map<std::string, std::string> text;
  for (const auto& q : read_queries(test::world_dir() / "queries.jsonl")) text[q.id] = q.text;
  std::size_t compared = 0, lists = 0;
  while (std::getline(in, line)) {
    const json j = json::parse(line);
    Request req;
    req.query = text.at(j.at("query_id"));
    req.k = depth;
    req.trace_survivors = true;
    const Response r = p.run(req);
    std::map<std::string, float> served;
    for (std::size_t i = 0; i < r.trace[1].survivors.size(); ++i)
      served[index->doc_id(r.trace[1].survivors[i])] = static_cast<float>(r.trace[1].survivor_scores[i]);
    const auto docs = j.at("docs").get<std::vector<std::string>>();
    const auto fused = j.at("fused").get<std::vector<float>>();
    // The trainer's lists are BM25's top candidate_depth, plus nothing: the
    // recall stage finds the same docs.
    ASSERT_EQ(served.size(), docs.size()) << j.at("query_id");
    for (std::size_t i = 0; i < docs.size(); ++i) {
      ASSERT_TRUE(served.count(docs[i])) << docs[i];
      EXPECT_EQ(served.at(docs[i]), fused[i]) << j.at("query_id") << " " << docs[i];
      ++compared;
    }
    ++lists;
  }
  EXPECT_GT(lists, 10u);
  EXPECT_GT(compared, 100u);
}

}  // namespace
}  // namespace funnel::rank
