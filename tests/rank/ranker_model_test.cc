// The cross ranker loaded for inference: finite, batch-independent,
// deterministic logits; the trainer's dev check reproduced exactly; refusal
// of another corpus and of missing or damaged files.
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

TEST(RankerModel, PredictsFiniteBatchIndependentLogits) {
    auto m = RankerModel::load(test::models_dir(), test::world_corpus());
  const auto& c = m->config();
  EXPECT_EQ(c.tasks, test::ranker_tasks());
  EXPECT_EQ(m->model_id(), test::fixture_json("ranker.json").at("model_id").get<std::string>());
  const std::size_t T = c.tasks.size();
  const auto queries = read_queries(test::world_dir() / "queries.jsonl");
  const std::string query = queries[7].text;
  const std::vector<std::uint32_t> rows = {3, 1500, 42, 999, 0, 1999};
  auto a = m->predict(query, rows);
  ASSERT_EQ(a.size(), rows.size() * T);
  for (float x : a) EXPECT_TRUE(std::isfinite(x));
  EXPECT_EQ(m->predict(query, rows), a);  // deterministic (eval mode: no dropout)
  // A row's logits do not depend on the other rows of the batch (padding,
  // batch statistics): {a, b, c} against {c} alone, for docs of different
  // lengths.
  for (std::size_t k = 0; k < rows.size(); ++k) {
    auto alone = m->predict(query, {rows[k]});
    ASSERT_EQ(alone.size(), T);
    for (std::size_t t = 0; t < T; ++t) EXPECT_NEAR(alone[t], a[k * T + t], 1e-5) << "row " << rows[k] << " task " << c.tasks[t];
  }
  auto rev = m->predict(query, {rows[2], rows[1], rows[0]});
  for (std::size_t t = 0; t < T; ++t) EXPECT_NEAR(rev[2 * T + t], a[t], 1e-5);
  // Another query gives other logits.
  EXPECT_NE(m->predict(queries[8].text, rows), a);
  // The serving score with the config's weights (relevance 1, the rest 0)
  // is the relevance logit.
  ASSERT_EQ(c.score_weights.size(), T);
  EXPECT_EQ(c.score_weights[0], 1.0);
  auto s = m->score(a, c.score_weights);
  ASSERT_EQ(s.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_FLOAT_EQ(s[i], a[i * T]);
  // Other weights: the weighted sum of the heads.
  std::vector<double> w(T, 0.0);
  w[0] = 0.5;
  w[T - 1] = 2.0;
  auto s2 = m->score(a, w);
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_NEAR(s2[i], 0.5 * a[i * T] + 2.0 * a[i * T + T - 1], 1e-5);
  EXPECT_TRUE(m->predict(query, {}).empty());
  EXPECT_THROW(m->predict(query, {2000}), Error);
}

// The saved model is the best epoch's, and serving computes what training
// computed: the trainer's dev check (MODELS/rank/dev_check.jsonl, the chosen
// epoch's scores of BM25's top candidate_depth of every dev query) is
// reproduced bit for bit by the loaded model.
TEST(RankerModel, ReproducesTheTrainersDevCheckExactly) {
  auto m = RankerModel::load(test::models_dir(), test::world_corpus());
  std::map<std::string, std::string> text;
  for (const auto& q : read_queries(test::world_dir() / "queries.jsonl")) text[q.id] = q.text;
  std::ifstream in(test::models_dir() / "rank" / "dev_check.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(in, line));  // the header
  std::size_t lists = 0, scores = 0;
  while (std::getline(in, line)) {
    const json j = json::parse(line);
    std::vector<std::uint32_t> rows;
    for (const auto& id : j.at("docs")) rows.push_back(*test::world_corpus()->find(id.get<std::string>()));
    const auto served = m->score(m->predict(text.at(j.at("query_id")), rows), m->config().score_weights);
    const auto trained = j.at("ranker").get<std::vector<float>>();
    ASSERT_EQ(served.size(), trained.size());
    for (std::size_t i = 0; i < served.size(); ++i) {
      EXPECT_EQ(served[i], trained[i]) << j.at("query_id") << " row " << rows[i];
      ++scores;
    }
    ++lists;
  }
  EXPECT_EQ(lists, test::fixture_json("ranker.json").at("dev_lists").get<std::size_t>());
  EXPECT_GT(scores, 100u);
}

TEST(RankerModel, LoadRejectsAnotherCorpusAndMissingFiles) {
    // A corpus of another size.
  auto smaller = std::make_shared<Corpus>(*test::world_corpus());
  smaller->docs.pop_back();
  smaller->row_of.erase(test::world_corpus()->docs.back().id);
  std::string msg = test::error_of([&] { RankerModel::load(test::models_dir(), smaller); });
  EXPECT_TRUE(test::contains(msg, "features.bin")) << msg;
  EXPECT_TRUE(test::contains(msg, "2000") && test::contains(msg, "1999")) << msg;
  // Missing files, one at a time, in a copy of the models folder.
  for (const char* f : {"model.pt", "config.json", "tokenizer.model", "features.bin"}) {
    test::TempDir copy;
    fs::copy(test::models_dir(), copy.path(), fs::copy_options::recursive);
    fs::remove(copy.path() / "rank" / f);
    msg = test::error_of([&] { RankerModel::load(copy.path(), test::world_corpus()); });
    EXPECT_TRUE(test::contains(msg, f) && test::contains(msg, "missing")) << f << ": " << msg;
  }
  // Damaged weights and config.
  {
    test::TempDir copy;
    fs::copy(test::models_dir(), copy.path(), fs::copy_options::recursive);
    test::write_file(copy.path() / "rank" / "model.pt", "not a torch archive");
    msg = test::error_of([&] { RankerModel::load(copy.path(), test::world_corpus()); });
    EXPECT_TRUE(test::contains(msg, "model.pt")) << msg;
    test::write_file(copy.path() / "rank" / "config.json", "{");
    msg = test::error_of([&] { RankerModel::load(copy.path(), test::world_corpus()); });
    EXPECT_TRUE(test::contains(msg, "config.json")) << msg;
  }
  msg = test::error_of([&] { RankerModel::model_id_of(test::models_dir() / "nowhere"); });
  EXPECT_TRUE(test::contains(msg, "model.pt")) << msg;
}

}  // namespace
}  // namespace funnel::rank
