// The two-tower student end to end on a tiny world: training learns, is
// deterministic and resumable, and the serving scorer over the embedding
// store reproduces the libtorch model's scores.
#include <gtest/gtest.h>

#include <cmath>

#include <map>
#include <set>

#include "funnel/embedding_store.h"
#include "funnel/error.h"
#include "funnel/prerank_scorer.h"
#include "funnel/world.h"
#include "funnel/ann.h"
#include "funnel/eval.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "model/prerank_model.h"
#include "model/prerank_stage.h"
#include "test_util.h"
#include "train/prerank_trainer.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;

// One tiny world for the whole suite.
const fs::path& world_dir() {
  static test::TempDir tmp_dir;  // removed when the test process exits
  static test::TempDir* tmp = &tmp_dir;
  static const fs::path dir = [] {
    WorldOptions o;
    o.docs = 2000;
    o.queries = 400;
    o.users = 300;
    o.impressions = 40000;
    o.seed = 5;
    write_world(make_world(o), tmp->path() / "world", false);
    return tmp->path() / "world";
  }();
  return dir;
}

train::PrerankTrainOptions tiny(const std::string& matcher = "soft_attention") {
  train::PrerankTrainOptions o;
  o.preset = "tiny";
  o.matcher = matcher;
  o.head_dim = 16;
  o.epochs = 3;
  o.steps_per_epoch = 100;
  o.batch = 32;
  o.dev_limit = 4000;
  return o;
}

TEST(PrerankTrain, LossFallsAndDevAucBeatsTheUntrainedModel) {
  test::TempDir out;
  auto r = train::train_prerank(world_dir(), out.path(), tiny(), {});
  ASSERT_EQ(r.epochs.size(), 3u);
  std::printf("  loss %.3f -> %.3f, dev AUC untrained %.4f best %.4f\n", r.epochs.front().loss, r.epochs.back().loss,
              r.untrained_dev_auc, r.best_dev_auc);
  EXPECT_LT(r.epochs.back().loss, r.epochs.front().loss * 0.9);
  // The student alone keeps more relevant docs of BM25's candidates than
  // before training, and ranks relevant docs above BM25 look-alikes better.
  const auto& last = r.epochs.back();
  std::printf("  cascade recall untrained %.4f trained %.4f (BM25 %.4f), label AUC %.4f -> %.4f\n",
              r.untrained.cascade_recall, last.cascade_recall, r.bm25_recall, r.untrained.label_auc, last.label_auc);
  EXPECT_GT(last.cascade_recall, r.untrained.cascade_recall);
  EXPECT_GT(last.label_auc, r.untrained.label_auc + 0.05);
  EXPECT_TRUE(fs::exists(out.path() / "prerank" / "fusion.json"));
  // Head report: nq x nq and nd x nd, ones on the diagonal, cosines within [-1, 1].
  ASSERT_EQ(r.query_head_cosine.size(), 9u);
  ASSERT_EQ(r.doc_head_cosine.size(), 9u);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(r.query_head_cosine[static_cast<std::size_t>(i * 4)], 1.0, 1e-5);
  for (double x : r.doc_head_cosine) EXPECT_LE(std::fabs(x), 1.0 + 1e-6);
  for (const char* f : {"config.json", "tokenizer.model", "model.pt", "checkpoint.pt", "train_log.jsonl"})
    EXPECT_TRUE(fs::exists(out.path() / "prerank" / f)) << f;
}

TEST(PrerankTrain, DeterministicForASeedAndResumable) {
  test::TempDir a, b;
  auto o = tiny("dot");
  o.epochs = 2;
  o.steps_per_epoch = 20;
  auto ra = train::train_prerank(world_dir(), a.path(), o, {});
  // b: one epoch, then resume for the second.
  auto o1 = o;
  o1.epochs = 1;
  train::train_prerank(world_dir(), b.path(), o1, {});
  auto o2 = o;
  o2.resume = true;
  auto rb = train::train_prerank(world_dir(), b.path(), o2, {});
  ASSERT_EQ(rb.epochs.size(), 1u);  // only the epoch that was left
  EXPECT_EQ(rb.epochs[0].epoch, 2);
  EXPECT_DOUBLE_EQ(rb.epochs[0].loss, ra.epochs[1].loss);
  EXPECT_DOUBLE_EQ(rb.epochs[0].dev_auc, ra.epochs[1].dev_auc);
  // Resuming with a different model is refused, naming the option.
  auto o3 = o;
  o3.resume = true;
  o3.epochs = 3;
  o3.head_dim = 8;
  try {
    train::train_prerank(world_dir(), b.path(), o3, {});
    ADD_FAILURE() << "resume with another head size was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("head_dim"), std::string::npos) << e.what();
  }
}

TEST(PrerankTrain, DistilsFromATeacherWithChildTuning) {
  test::TempDir out;
  auto o = tiny("dot");
  o.epochs = 1;
  o.steps_per_epoch = 20;
  train::train_prerank(world_dir(), out.path() / "teacher", o, {});
  auto s = tiny("soft_attention");
  s.epochs = 1;
  s.steps_per_epoch = 20;
  s.teacher = (out.path() / "teacher").string();
  s.distill_inbatch = 1.0;
  s.child_tuning = "D";
  s.child_fisher_batches = 3;
  std::vector<std::string> lines;
  auto r = train::train_prerank(world_dir(), out.path() / "student", s, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_EQ(r.epochs.size(), 1u);
  EXPECT_TRUE(std::isfinite(r.epochs[0].loss));
  auto said = [&](const std::string& what) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(what) != std::string::npos; });
  };
  EXPECT_TRUE(said("fit: teacher"));
  EXPECT_TRUE(said("ChildTuning-D"));
  // The teacher's losses enter the objective: without child-tuning (whose
  // Fisher batches draw dropout), the same seed with and without the
  // teacher sees the same batches and initial weights, so equal losses
  // would mean the distillation terms were zero. They act on the logits
  // (score / InfoNCE temperature): on raw cosine scores the in-batch KL was
  // almost 0 and the first ablation saw no effect, so ask for a clear gap.
  auto with_teacher = s;
  with_teacher.child_tuning.clear();
  auto plain = with_teacher;
  plain.teacher.clear();
  auto rt = train::train_prerank(world_dir(), out.path() / "with-teacher", with_teacher, {});
  auto rp = train::train_prerank(world_dir(), out.path() / "plain", plain, {});
  EXPECT_GT(rt.epochs[0].loss, rp.epochs[0].loss + 0.1) << rt.epochs[0].loss << " vs " << rp.epochs[0].loss;
  s.teacher = (out.path() / "nowhere").string();
  EXPECT_THROW(train::train_prerank(world_dir(), out.path() / "student2", s, {}), Error);
  s.teacher.clear();
  s.child_tuning = "X";
  EXPECT_THROW(train::train_prerank(world_dir(), out.path() / "student3", s, {}), Error);
}

TEST(PrerankTrain, RejectsBadData) {
  test::TempDir out;
  test::write_file(out.path() / "data" / "corpus.jsonl", "{\"id\": \"a\", \"title\": \"x\"}\n");
  test::write_file(out.path() / "data" / "queries.jsonl", "{\"id\": \"q\", \"text\": \"x\"}\n");
  EXPECT_THROW(train::train_prerank(out.path() / "data", out.path() / "m", tiny(), {}), Error);
}

class ScorerVsLibtorch : public ::testing::TestWithParam<std::string> {};

TEST_P(ScorerVsLibtorch, StoreScoresEqualTheModel) {
  test::TempDir out;
  auto o = tiny(GetParam());
  o.epochs = 1;
  o.steps_per_epoch = 15;
  train::train_prerank(world_dir(), out.path(), o, {});
  auto model = model::PrerankModel::load(out.path());
  Corpus corpus = read_corpus(world_dir() / "corpus.jsonl");
  auto docs = model->encode_docs(corpus);
  const auto& c = model->config();
  std::vector<std::uint32_t> rows;
  for (std::uint32_t r = 0; r < corpus.docs.size(); r += 7) rows.push_back(r);
  const std::string query = read_queries(world_dir() / "queries.jsonl")[3].text;
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

}  // namespace
}  // namespace funnel

namespace funnel {
namespace {

// Index with embeddings + ANN, then a cascade with BM25 and ANN recall.
TEST(AnnRecall, FindsTheExactNeighboursAndMergesWithBm25) {
  test::TempDir out;
  auto o = tiny("soft_attention");
  o.epochs = 1;
  o.steps_per_epoch = 15;
  train::train_prerank(world_dir(), out.path(), o, {});
  model::register_model_stages();
  auto encoder = model::make_doc_encoder(out.path());
  Corpus corpus = read_corpus(world_dir() / "corpus.jsonl");
  IndexOptions io;
  io.encoder = encoder.get();
  build_index(corpus, out.path() / "index", io);
  auto index = Index::open(out.path() / "index");
  ASSERT_TRUE(index->embeddings());
  EXPECT_EQ(index->embeddings()->version(), 1u);

  auto cfg = nlohmann::json::parse(R"({"stages": [
    {"name": "recall", "type": "recall", "channels": [{"type": "bm25", "quota": 50}, {"type": "ann", "quota": 50}]},
    {"name": "truncate", "type": "truncate", "keep": 100}]})");
  Pipeline p(index, cfg);
  auto model = model::PrerankModel::load(out.path());
  auto queries = read_queries(world_dir() / "queries.jsonl");
  double overlap = 0;
  int n = 0;
  std::set<std::string> channels_seen;
  for (std::size_t i = 0; i < 20; ++i) {
    Request req;
    req.query = queries[i].text;
    req.k = 100;
    Response r = p.run(req);
    for (const auto& item : r.items)
      for (const auto& c : item.channels) channels_seen.insert(c);
    // ANN's own top 10 against brute force over the same vectors.
    auto q = model->encode_queries({queries[i].text});
    auto exact = exact_top_k(*index->embeddings(), q, static_cast<std::uint32_t>(model->config().nq), 10);
    auto ann = index->channel("ann");
    EXPECT_EQ(ann, nullptr);  // built by the stage, not owned by the index
    std::set<std::uint32_t> got;
    for (const auto& item : r.items)
      for (const auto& c : item.channels)
        if (c == "ann") got.insert(item.row);
    for (auto row : exact) overlap += got.count(row);
    n += 10;
  }
  EXPECT_TRUE(channels_seen.count("bm25"));
  EXPECT_TRUE(channels_seen.count("ann"));
  std::printf("  ANN top-10 found in the ANN channel's 50: %.3f\n", overlap / n);
  EXPECT_GT(overlap / n, 0.9);

  // A cascade with pre-rank: the stage's AUCs on logs and human labels.
  auto pcfg = nlohmann::json::parse(R"({"stages": [
    {"name": "recall", "type": "recall", "channels": [{"type": "bm25", "quota": 200}]},
    {"name": "prerank", "type": "prerank", "keep": 50}]})");
  Pipeline pp(index, pcfg);
  auto imps = read_impressions(world_dir() / "impressions.jsonl");
  Qrels labels = read_qrels(world_dir() / "human_labels.tsv");
  Qrels test_qrels = load_qrels(world_dir(), "test");
  EvalOptions eo;
  eo.k = 50;
  eo.impressions = &imps;
  eo.human_labels = &labels;
  EvalResult er = evaluate(pp, queries, test_qrels, eo);
  ASSERT_EQ(er.stages.size(), 2u);
  EXPECT_TRUE(std::isnan(er.stages[0].auc));  // recall is not a scoring stage
  for (double x : {er.stages[1].auc, er.stages[1].gauc, er.stages[1].label_auc}) {
    EXPECT_GE(x, 0.0);
    EXPECT_LE(x, 1.0);
  }
  auto js = eval_to_json(er);
  EXPECT_TRUE(js["stages"][1].contains("auc"));
  EXPECT_TRUE(js["stages"][1].contains("label_auc"));
  EXPECT_FALSE(js["stages"][0].contains("auc"));
  // score_rows gives the stage's own scores, in input order.
  std::vector<std::uint32_t> some{5, 1, 900};
  auto direct = pp.score_rows(1, queries[0].text, some);
  auto q0 = model->encode_queries({queries[0].text});
  std::vector<float> ref(3);
  PrerankScorer(index->embeddings(), {Matcher::kSoftAttention, static_cast<float>(model->config().beta), false, nullptr})
      .score(q0, static_cast<std::uint32_t>(model->config().nq), some, ref);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(direct[i], ref[i], 1e-6);

  // Fusion with recall: the stage adds w x BM25 / the request's best BM25
  // to the student's score (w from the config here, else fusion.json).
  auto fusion_cfg = [](double w) {
    return nlohmann::json{
        {"stages",
         {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", 200}}}}},
          {{"name", "prerank"}, {"type", "prerank"}, {"keep", 200}, {"recall_weight", w}}}}};
  };
  Pipeline p0(index, fusion_cfg(0.0)), p2(index, fusion_cfg(2.0));
  Request freq;
  freq.query = queries[1].text;
  freq.k = 200;
  Response r0 = p0.run(freq), r2 = p2.run(freq);
  ASSERT_FALSE(r2.items.empty());
  std::map<std::uint32_t, double> alone;
  for (const auto& item : r0.items) alone[item.row] = item.score;
  double best_bm25 = 0;
  for (const auto& item : r2.items) best_bm25 = std::max(best_bm25, item.marks.at(0).score);
  for (const auto& item : r2.items) {
    ASSERT_TRUE(alone.count(item.row));
    EXPECT_NEAR(item.score - alone[item.row], 2.0 * item.marks.at(0).score / best_bm25, 1e-4);
  }
  EXPECT_THROW(Pipeline(index, fusion_cfg(-1.0)), Error);

  // Refresh publishes version 2; an index opened before keeps version 1.
  EXPECT_EQ(refresh_embeddings(out.path() / "index", corpus, *encoder, Precision::kFp16), 2u);
  EXPECT_EQ(index->embeddings()->version(), 1u);
  EXPECT_EQ(Index::open(out.path() / "index")->embeddings()->version(), 2u);
  EXPECT_EQ(Index::open(out.path() / "index")->embeddings()->spec().precision, Precision::kFp16);
}

}  // namespace
}  // namespace funnel
