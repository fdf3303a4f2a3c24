// The cross ranker's training on the tiny world of the trained fixture: it
// writes its model folder, it beats BM25's order on held-out queries by a
// margin, it refuses bad options.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "fixture.h"
#include "funnel/data.h"
#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/metrics.h"
#include "funnel/pipeline.h"
#include "funnel/train.h"
#include "rank/ranker_model.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string first_line(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  return line;
}

TEST(RankTrain, WritesTheModelFolderWithTheBestEpoch) {
  const json res = test::fixture_json("ranker.json");
  const auto& epochs = res.at("epochs");
  ASSERT_EQ(epochs.size(), 2u);
  const int best_epoch = res.at("best_epoch");
  const json& best = epochs.at(static_cast<std::size_t>(best_epoch - 1));
  // The epoch kept is the best fused one on dev; fusing never loses to the
  // ranker alone on dev (weight 0 is on the grid).
  EXPECT_EQ(res.at("best_dev_ndcg").get<double>(), best.at("fused_ndcg").get<double>());
  EXPECT_EQ(res.at("best_ranker_ndcg").get<double>(), best.at("dev_ndcg").get<double>());
  for (const auto& e : epochs) {
    EXPECT_LE(e.at("fused_ndcg").get<double>(), res.at("best_dev_ndcg").get<double>());
    EXPECT_GE(e.at("fused_ndcg").get<double>(), e.at("dev_ndcg").get<double>());
  }
  const fs::path dir = test::models_dir() / "rank";
  const json fj = json::parse(test::read_file(dir / "fusion.json"));
  EXPECT_EQ(fj.at("recall_weight").get<double>(), res.at("fusion_weight").get<double>());
  EXPECT_EQ(fj.at("epoch").get<int>(), best_epoch);
  for (const char* f : {"config.json", "tokenizer.model", "model.pt", "features.bin", "train_scores.jsonl", "data.json",
                        "train_log.jsonl", "dev_check.jsonl"})
    EXPECT_TRUE(fs::is_regular_file(dir / f)) << f;
  EXPECT_FALSE(fs::exists(dir / "bm25.tmp"));  // the scratch index is removed
  // The stored scores name the saved model.
  const std::string id = rank::RankerModel::model_id_of(test::models_dir());
  EXPECT_EQ(json::parse(first_line(dir / "train_scores.jsonl")).at("model_id").get<std::string>(), id);
  EXPECT_EQ(res.at("model_id").get<std::string>(), id);
  EXPECT_EQ(id.rfind("rank-", 0), 0u) << id;
  std::size_t lines = 0;
  {
    std::ifstream in(dir / "train_scores.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      if (++lines == 1) continue;
      const json j = json::parse(line);
      ASSERT_EQ(j.at("docs").size(), j.at("scores").size());
      EXPECT_LE(j.at("docs").size(), 31u);  // stored_depth 30 (+ a relevant doc BM25 missed)
    }
  }
  EXPECT_GT(res.at("stored_queries").get<std::size_t>(), 0u);
  EXPECT_EQ(lines, res.at("stored_queries").get<std::size_t>() + 1);
  // Tasks: relevance first, then the logged signals the world has.
  const auto tasks = res.at("tasks").get<std::vector<std::string>>();
  ASSERT_FALSE(tasks.empty());
  EXPECT_EQ(tasks.front(), "relevance");
  EXPECT_NE(std::find(tasks.begin(), tasks.end(), "click"), tasks.end());
  EXPECT_EQ(json::parse(test::read_file(dir / "config.json")).at("tasks").get<std::vector<std::string>>(), tasks);
  // data.json names the training data.
  const json dj = json::parse(test::read_file(dir / "data.json"));
  EXPECT_EQ(fs::weakly_canonical(dj.at("data").get<std::string>()), fs::weakly_canonical(test::world_dir()));
}

// The learning check, on queries that played no part in training or in
// choosing the epoch (the test split): per query, nDCG@10 of BM25's top 30
// re-ranked by the ranker alone minus BM25's own; the mean difference must
// exceed twice its standard error. If the ranker learnt nothing, this
// fails; so does a train/serve mismatch that scrambles the serving scores.
TEST(RankTrain, BeatsBm25OnHeldOutQueriesByAMargin) {
  auto index = Index::open(test::index_dir());
  const json rank_only = {{"stages",
                           {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", 30}}}}},
                            {{"name", "rank"}, {"type", "rank"}, {"keep", 30}, {"recall_weight", 0}}}}};
  Pipeline ranked(index, rank_only), bm25(index, default_cascade(30, 30));
  const Qrels test_qrels = load_qrels(test::world_dir(), "test");
  std::vector<double> diff;
  for (const auto& q : read_queries(test::world_dir() / "queries.jsonl")) {
    auto it = test_qrels.find(q.id);
    if (it == test_qrels.end()) continue;
    auto ndcg = [&](const Pipeline& p) {
      Request r;
      r.query = q.text;
      r.k = 30;
      std::vector<std::string> ids;
      for (const auto& item : p.run(r).items) ids.push_back(item.doc_id);
      return metrics::ndcg_at_k(ids, it->second, 10);
    };
    diff.push_back(ndcg(ranked) - ndcg(bm25));
  }
  ASSERT_GE(diff.size(), 30u);
  const auto gain = test::paired_gain(diff);
  std::printf("  %zu held-out queries: ranker - BM25 nDCG@10 = %+.4f (se %.4f)\n", diff.size(), gain.mean, gain.se);
  EXPECT_GT(gain.mean, 2 * gain.se);
}

TEST(RankTrain, RejectsBadOptions) {
  test::TempDir out;
  auto o = test::tiny_rank_options();
  o.task_weights = {{"dwell", 1.0}};
  EXPECT_TRUE(test::contains(test::error_of([&] { train::train_rank(test::world_dir(), out.path(), o, {}); }), "dwell"));
  o = test::tiny_rank_options();
  o.use_text = o.use_features = false;
  EXPECT_THROW(train::train_rank(test::world_dir(), out.path(), o, {}), Error);
  o = test::tiny_rank_options();
  o.list_size = 1;
  EXPECT_THROW(train::train_rank(test::world_dir(), out.path(), o, {}), Error);
}

}  // namespace
}  // namespace funnel
