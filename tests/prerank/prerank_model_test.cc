// The trained two-tower model loaded for inference, and the serving scorer
// over its stored doc heads: fp32 equals the libtorch model's scores, the
// lossy precisions keep the head of the order.
#include <gtest/gtest.h>

#include <set>

#include "fixture.h"
#include "funnel/data.h"
#include "funnel/embedding_store.h"
#include "funnel/error.h"
#include "funnel/fusion.h"
#include "funnel/prerank_scorer.h"
#include "funnel/train.h"
#include "prerank/prerank_model.h"
#include "test_util.h"

namespace funnel::prerank {
namespace {
namespace fs = std::filesystem;

class ScorerVsLibtorch : public ::testing::TestWithParam<std::string> {};

TEST_P(ScorerVsLibtorch, StoreScoresEqualTheModel) {
  test::TempDir out;
  fs::path models = test::models_dir();  // the fixture's student is soft_attention
  if (GetParam() != "soft_attention") {
    auto o = test::tiny_student_options(GetParam());
    o.steps_per_epoch = 15;
    train::train_prerank(test::world_dir(), out.path(), o, {});
    models = out.path();
  }
  auto model = PrerankModel::load(models);
  EXPECT_EQ(model->config().matcher, GetParam());
  Corpus corpus = read_corpus(test::world_dir() / "corpus.jsonl");
  auto docs = model->encode_docs(corpus);
  const auto& c = model->config();
  std::vector<std::uint32_t> rows;
  for (std::uint32_t r = 0; r < corpus.docs.size(); r += 7) rows.push_back(r);
  const std::string query = read_queries(test::world_dir() / "queries.jsonl")[3].text;
  auto expected = model->score(query, corpus, rows);
  auto q = model->encode_queries({query});
  ScorerOptions so;
  so.matcher = parse_matcher(GetParam(), "test");
  so.beta = static_cast<float>(c.beta);
  if (so.matcher == Matcher::kEsim) so.esim = model->esim_weights();
  for (Precision p : {Precision::kFp32, Precision::kFp16, Precision::kInt8}) {
    fs::path store_dir = out.path() / ("store-" + precision_name(p));
    publish_store_version(store_dir, {model->model_id(), p, static_cast<std::uint32_t>(c.nd),
                                      static_cast<std::uint32_t>(c.head_dim)},
                          docs, corpus.docs.size());
    PrerankScorer scorer(EmbeddingStore::open(store_dir), so);
    std::vector<float> got(rows.size());
    scorer.score(q, static_cast<std::uint32_t>(c.nq), rows, got);
    if (p == Precision::kFp32) {
      for (std::size_t i = 0; i < rows.size(); ++i) ASSERT_NEAR(got[i], expected[i], 1e-4) << "row " << rows[i];
    } else {
      // Lossy storage keeps the head of the order: >= 90% (fp16) / 80%
      // (int8) of the libtorch top 20 stay in the top 20.
      auto a = top_n(rows, expected, 20), b = top_n(rows, got, 20);
      std::set<std::uint32_t> sa;
      for (auto& x : a) sa.insert(x.first);
      int common = 0;
      for (auto& x : b) common += sa.count(x.first);
      EXPECT_GE(common, p == Precision::kFp16 ? 18 : 16) << precision_name(p);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Matchers, ScorerVsLibtorch, ::testing::Values("dot", "soft_attention", "esim"));

TEST(PrerankModel, LoadNamesTheMissingOrDamagedFile) {
  for (const char* f : {"config.json", "tokenizer.model", "model.pt"}) {
    test::TempDir copy;
    fs::copy(test::models_dir(), copy.path(), fs::copy_options::recursive);
    fs::remove(copy.path() / "prerank" / f);
    const std::string msg = test::error_of([&] { PrerankModel::load(copy.path()); });
    EXPECT_TRUE(test::contains(msg, f) && test::contains(msg, "missing")) << f << ": " << msg;
  }
  test::TempDir copy;
  fs::copy(test::models_dir(), copy.path(), fs::copy_options::recursive);
  test::write_file(copy.path() / "prerank" / "model.pt", "not a torch archive");
  std::string msg = test::error_of([&] { PrerankModel::load(copy.path()); });
  EXPECT_TRUE(test::contains(msg, "model.pt")) << msg;
  test::write_file(copy.path() / "prerank" / "config.json", "{\"preset\": ");
  msg = test::error_of([&] { PrerankModel::load(copy.path()); });
  EXPECT_TRUE(test::contains(msg, "config.json")) << msg;
}

}  // namespace
}  // namespace funnel::prerank
