// The cross ranker end to end on a tiny world: its pair inputs, training
// (beats BM25's order on dev), inference (batch-independent, deterministic),
// the rank stage in a cascade (pXtr, score weights), MLM pre-training as
// init, distillation of its stored scores into the pre-ranker, and config
// validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/data.h"
#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/metrics.h"
#include "funnel/pipeline.h"
#include "funnel/recall.h"
#include "funnel/world.h"
#include "model/config.h"
#include "model/features.h"
#include "model/prerank_stage.h"
#include "model/rank_config.h"
#include "model/ranker_model.h"
#include "test_util.h"
#include "train/prerank_trainer.h"
#include "train/pretrain.h"
#include "train/rank_trainer.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

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

train::RankTrainOptions tiny_rank() {
  train::RankTrainOptions o;
  o.preset = "tiny";
  o.max_len = 48;
  o.epochs = 2;
  o.steps_per_epoch = 100;
  o.queries_per_step = 8;
  o.list_size = 16;
  o.impressions_per_step = 64;
  o.candidate_depth = 30;
  o.dev_queries = 100;
  o.stored_depth = 30;
  return o;
}

train::PrerankTrainOptions tiny_prerank() {
  train::PrerankTrainOptions o;
  o.preset = "tiny";
  o.matcher = "dot";
  o.head_dim = 16;
  o.epochs = 1;
  o.steps_per_epoch = 10;
  o.batch = 32;
  o.dev_limit = 500;
  o.cascade_queries = 20;
  o.cascade_depth = 100;
  o.cascade_keep = 20;
  return o;
}

// One trained ranker for the whole suite (models folder with rank/).
struct TrainedRanker {
  test::TempDir tmp;
  fs::path models;
  train::RankTrainResult result;
  std::vector<std::string> log;
};

const TrainedRanker& ranker() {
  static TrainedRanker* r = [] {
    auto* t = new TrainedRanker;
    t->models = t->tmp.path() / "models";
    t->result = train::train_rank(world_dir(), t->models, tiny_rank(), [t](const std::string& l) { t->log.push_back(l); });
    return t;
  }();
  static std::unique_ptr<TrainedRanker> owner(r);  // removes the folder at exit
  return *r;
}

std::shared_ptr<const Corpus> world_corpus() {
  static auto c = std::make_shared<const Corpus>(read_corpus(world_dir() / "corpus.jsonl"));
  return c;
}

std::string first_line(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no funnel::Error thrown>";
}

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// ---------------------------------------------------------------- pair_tokens

TEST(PairTokens, QueryTitleBodyWithSeparatorsAndBudgets) {
  using model::pair_tokens;
  using V = std::vector<std::int64_t>;
  const V q = {10, 11, 12, 13, 14}, t = {20, 21, 22, 23, 24, 25}, b = {30, 31, 32, 33, 34, 35, 36, 37, 38, 39};
  EXPECT_EQ(model::kSepId, 2);
  // max_len 12: query cut at 12/4 = 3, title at 12/3 = 4, body fills the rest.
  EXPECT_EQ(pair_tokens(q, t, b, 12), (V{1, 10, 11, 12, 2, 20, 21, 22, 23, 2, 30, 31}));
  // Short pieces are kept whole; the body takes what is left.
  EXPECT_EQ(pair_tokens({10}, {20}, b, 8), (V{1, 10, 2, 20, 2, 30, 31, 32}));
  // Everything fits: no cut, no padding.
  EXPECT_EQ(pair_tokens({10, 11}, {20, 21}, {30}, 64), (V{1, 10, 11, 2, 20, 21, 2, 30}));
  // Empty body: ends with the second [SEP].
  EXPECT_EQ(pair_tokens(q, t, {}, 12), (V{1, 10, 11, 12, 2, 20, 21, 22, 23, 2}));
  // Empty query and title: the separators stay.
  EXPECT_EQ(pair_tokens({}, {}, {30, 31}, 12), (V{1, 2, 2, 30, 31}));
  // A long body never crowds out the query and title.
  V long_body(100, 7);
  auto s = pair_tokens(q, t, long_body, 24);  // query 6, title 8
  ASSERT_EQ(s.size(), 24u);
  EXPECT_EQ(V(s.begin(), s.begin() + 7), (V{1, 10, 11, 12, 13, 14, 2}));
  EXPECT_EQ(V(s.begin() + 7, s.begin() + 14), (V{20, 21, 22, 23, 24, 25, 2}));
  for (std::size_t i = 14; i < 24; ++i) EXPECT_EQ(s[i], 7);
  // Tiny max_len: one query and one title token at least, never longer than max_len.
  EXPECT_EQ(pair_tokens(q, t, b, 5), (V{1, 10, 2, 20, 2}));
  EXPECT_EQ(pair_tokens(q, t, b, 4), (V{1, 10, 2, 20}));
  EXPECT_EQ(pair_tokens(q, t, b, 3), (V{1, 10, 2}));
  EXPECT_EQ(pair_tokens(q, t, b, 2), (V{1, 10}));
  EXPECT_EQ(pair_tokens(q, t, b, 1), (V{1}));
  for (std::size_t m = 1; m <= 40; ++m) {
    auto x = pair_tokens(q, t, b, m);
    EXPECT_LE(x.size(), m);
    EXPECT_EQ(x.front(), 1);
    if (m >= 21) {
      EXPECT_EQ(x.size(), 1 + q.size() + 1 + t.size() + 1 + std::min<std::size_t>(b.size(), m - 14));
    }
  }
}

// ------------------------------------------------------------------ training

TEST(RankTrain, BeatsBm25OnDevAndWritesTheModelFolder) {
  const auto& r = ranker();
  const auto& res = r.result;
  std::printf("  dev nDCG@10: BM25 %.4f, untrained %.4f, best %.4f (epoch %d)", res.bm25_dev_ndcg,
              res.untrained_dev_ndcg, res.best_dev_ndcg, res.best_epoch);
  for (const auto& e : res.epochs) std::printf(" | e%d loss %.4f ndcg %.4f %.0fs", e.epoch, e.loss, e.dev_ndcg, e.seconds);
  std::printf("\n");
  ASSERT_EQ(res.epochs.size(), 2u);
  ASSERT_TRUE(std::isfinite(res.bm25_dev_ndcg));
  // The ranker alone beats BM25's order of the same lists.
  EXPECT_GT(res.best_ranker_ndcg, res.bm25_dev_ndcg);
  EXPECT_GT(res.best_ranker_ndcg, res.untrained_dev_ndcg);
  const auto& best = res.epochs[static_cast<std::size_t>(res.best_epoch - 1)];
  EXPECT_EQ(res.best_ranker_ndcg, best.dev_ndcg);
  // The epoch kept is the best fused one; fusing never loses to the ranker alone on dev.
  EXPECT_EQ(res.best_dev_ndcg, best.fused_ndcg);
  EXPECT_GE(res.best_dev_ndcg, res.best_ranker_ndcg);
  for (const auto& e : res.epochs) EXPECT_LE(e.fused_ndcg, res.best_dev_ndcg);
  {
    json fj = json::parse(test::read_file(r.models / "rank" / "fusion.json"));
    EXPECT_EQ(fj.at("recall_weight").get<double>(), res.fusion_weight);
    EXPECT_EQ(fj.at("epoch").get<int>(), res.best_epoch);
  }
  const fs::path dir = r.models / "rank";
  EXPECT_EQ(res.model_dir, dir);
  for (const char* f : {"config.json", "tokenizer.model", "model.pt", "features.bin", "train_scores.jsonl", "data.json",
                        "train_log.jsonl"})
    EXPECT_TRUE(fs::is_regular_file(dir / f)) << f;
  EXPECT_FALSE(fs::exists(dir / "bm25.tmp"));  // scratch index removed
  // The stored scores name the saved model.
  json head = json::parse(first_line(dir / "train_scores.jsonl"));
  const std::string id = model::RankerModel::model_id_of(r.models);
  EXPECT_EQ(head.at("model_id").get<std::string>(), id);
  EXPECT_EQ(res.model_id, id);
  EXPECT_EQ(id.rfind("rank-", 0), 0u) << id;
  std::size_t lines = 0;
  {
    std::ifstream in(dir / "train_scores.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      if (++lines == 1) continue;
      json j = json::parse(line);
      ASSERT_EQ(j.at("docs").size(), j.at("scores").size());
      EXPECT_LE(j.at("docs").size(), 31u);  // stored_depth 30 (+ a relevant doc BM25 missed)
    }
  }
  EXPECT_GT(res.stored_queries, 0u);
  EXPECT_EQ(lines, res.stored_queries + 1);
  // Tasks: relevance first, then the logged signals the world has.
  ASSERT_FALSE(res.tasks.empty());
  EXPECT_EQ(res.tasks.front(), "relevance");
  EXPECT_NE(std::find(res.tasks.begin(), res.tasks.end(), "click"), res.tasks.end());
  json cfg = json::parse(test::read_file(dir / "config.json"));
  EXPECT_EQ(cfg.at("tasks").get<std::vector<std::string>>(), res.tasks);
  // data.json names the training data.
  json dj = json::parse(test::read_file(dir / "data.json"));
  EXPECT_EQ(fs::weakly_canonical(dj.at("data").get<std::string>()), fs::weakly_canonical(world_dir()));
}

TEST(RankTrain, RejectsBadOptions) {
  test::TempDir out;
  auto o = tiny_rank();
  o.task_weights = {{"dwell", 1.0}};
  EXPECT_TRUE(contains(error_of([&] { train::train_rank(world_dir(), out.path(), o, {}); }), "dwell"));
  o = tiny_rank();
  o.use_text = o.use_features = false;
  EXPECT_THROW(train::train_rank(world_dir(), out.path(), o, {}), Error);
  o = tiny_rank();
  o.list_size = 1;
  EXPECT_THROW(train::train_rank(world_dir(), out.path(), o, {}), Error);
}

// ----------------------------------------------------------------- inference

TEST(RankerModel, PredictsFiniteBatchIndependentLogits) {
  const auto& r = ranker();
  auto m = model::RankerModel::load(r.models, world_corpus());
  const auto& c = m->config();
  EXPECT_EQ(c.tasks, r.result.tasks);
  EXPECT_EQ(m->model_id(), r.result.model_id);
  const std::size_t T = c.tasks.size();
  const auto queries = read_queries(world_dir() / "queries.jsonl");
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

// The saved model is the best epoch's, and serving computes the same inputs
// as training: re-ranking the dev check's lists (BM25 top candidate_depth of
// every judged dev query) with the loaded model gives the trainer's figures.
TEST(RankerModel, ReproducesTheTrainersDevCheck) {
  const auto& r = ranker();
  const auto opts = tiny_rank();
  auto m = model::RankerModel::load(r.models, world_corpus());
  test::TempDir tmp;
  build_bm25_index(*world_corpus(), tmp.path() / "bm25", Bm25Options{});
  auto bm25 = open_bm25_channel(tmp.path() / "bm25", Bm25Options{});
  const auto queries = read_queries(world_dir() / "queries.jsonl");
  std::map<std::string, std::string> text;
  for (const auto& q : queries) text[q.id] = q.text;
  Qrels dev = load_qrels(world_dir(), "dev");
  double bm25_sum = 0, model_sum = 0;
  std::size_t n = 0;
  for (const auto& [qid, judged] : dev) {
    if (!text.count(qid) || std::none_of(judged.begin(), judged.end(), [](const auto& kv) { return kv.second > 0; }))
      continue;
    std::vector<std::uint32_t> rows;
    std::vector<std::string> ids;
    for (const auto& h : bm25->search(text[qid], opts.candidate_depth)) {
      rows.push_back(h.row);
      ids.push_back(world_corpus()->docs[h.row].id);
    }
    bm25_sum += metrics::ndcg_at_k(ids, judged, 10);
    auto sc = m->score(m->predict(text[qid], rows), m->config().score_weights);
    std::vector<std::size_t> idx(rows.size());
    for (std::size_t k = 0; k < idx.size(); ++k) idx[k] = k;
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return sc[a] > sc[b]; });
    std::vector<std::string> ranked;
    for (auto k : idx) ranked.push_back(ids[k]);
    model_sum += metrics::ndcg_at_k(ranked, judged, 10);
    ++n;
  }
  ASSERT_GT(n, 10u);
  ASSERT_LE(n, opts.dev_queries);  // every dev query is in the check
  std::printf("  %zu dev queries: BM25 %.4f, loaded model %.4f (trainer: %.4f, %.4f)\n", n, bm25_sum / n, model_sum / n,
              r.result.bm25_dev_ndcg, r.result.best_ranker_ndcg);
  EXPECT_NEAR(bm25_sum / static_cast<double>(n), r.result.bm25_dev_ndcg, 1e-9);
  EXPECT_NEAR(model_sum / static_cast<double>(n), r.result.best_ranker_ndcg, 2e-3);
}

TEST(RankerModel, LoadRejectsAnotherCorpusAndMissingFiles) {
  const auto& r = ranker();
  // A corpus of another size.
  auto smaller = std::make_shared<Corpus>(*world_corpus());
  smaller->docs.pop_back();
  smaller->row_of.erase(world_corpus()->docs.back().id);
  std::string msg = error_of([&] { model::RankerModel::load(r.models, smaller); });
  EXPECT_TRUE(contains(msg, "features.bin")) << msg;
  EXPECT_TRUE(contains(msg, "2000") && contains(msg, "1999")) << msg;
  // Missing files, one at a time, in a copy of the models folder.
  for (const char* f : {"model.pt", "config.json", "tokenizer.model", "features.bin"}) {
    test::TempDir copy;
    fs::copy(r.models, copy.path(), fs::copy_options::recursive);
    fs::remove(copy.path() / "rank" / f);
    msg = error_of([&] { model::RankerModel::load(copy.path(), world_corpus()); });
    EXPECT_TRUE(contains(msg, f) && contains(msg, "missing")) << f << ": " << msg;
  }
  // Damaged weights and config.
  {
    test::TempDir copy;
    fs::copy(r.models, copy.path(), fs::copy_options::recursive);
    test::write_file(copy.path() / "rank" / "model.pt", "not a torch archive");
    msg = error_of([&] { model::RankerModel::load(copy.path(), world_corpus()); });
    EXPECT_TRUE(contains(msg, "model.pt")) << msg;
    test::write_file(copy.path() / "rank" / "config.json", "{");
    msg = error_of([&] { model::RankerModel::load(copy.path(), world_corpus()); });
    EXPECT_TRUE(contains(msg, "config.json")) << msg;
  }
  msg = error_of([&] { model::RankerModel::model_id_of(r.models / "nowhere"); });
  EXPECT_TRUE(contains(msg, "model.pt")) << msg;
}

// ------------------------------------------------------------ the rank stage

json rank_cascade(const fs::path& models, const json& rank_extra) {
  json rank = {{"name", "rank"}, {"type", "rank"}, {"keep", 10}, {"models", models.string()}};
  for (auto it = rank_extra.begin(); it != rank_extra.end(); ++it) rank[it.key()] = it.value();
  return {{"stages",
           {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", 50}}}}}, rank}}};
}

TEST(RankStage, SetsPxtrAndFollowsScoreWeights) {
  const auto& r = ranker();
  test::TempDir tmp;
  build_index(*world_corpus(), tmp.path() / "index", IndexOptions{});
  auto index = Index::open(tmp.path() / "index");
  model::register_model_stages();
  // recall_weight 0: the score is the model's alone (fusion is checked below).
  Pipeline p(index, rank_cascade(r.models, {{"corpus", world_dir().string()}, {"recall_weight", 0}}));
  EXPECT_EQ(p.stage_types(), (std::vector<std::string>{"recall", "rank"}));
  auto m = model::RankerModel::load(r.models, world_corpus());
  const auto& tasks = m->config().tasks;
  const std::size_t T = tasks.size();
  const std::size_t click = static_cast<std::size_t>(std::find(tasks.begin(), tasks.end(), "click") - tasks.begin());
  ASSERT_LT(click, T);
  const auto queries = read_queries(world_dir() / "queries.jsonl");
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
  std::string msg = error_of([&] { p.run(bad); });
  EXPECT_TRUE(contains(msg, "'dwell'")) << msg;
  msg = error_of([&] { Pipeline(index, rank_cascade(r.models, {{"score_weights", {{"dwell", 1}}}})); });
  EXPECT_TRUE(contains(msg, "'dwell'")) << msg;
  // Fusion with BM25: score = relevance logit + w x BM25 / the request's
  // best BM25, so the difference lies in [0, w] and is w for BM25's top doc.
  {
    Pipeline pf(index, rank_cascade(r.models, {{"recall_weight", 2.0}}));
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
    msg = error_of([&] { Pipeline(index, rank_cascade(r.models, {{"recall_weight", -1}})); });
    EXPECT_TRUE(contains(msg, "recall_weight")) << msg;
  }
  // Without "corpus" the stage reads the training data (data.json).
  Pipeline p2(index, rank_cascade(r.models, {{"recall_weight", 0}}));
  Request req;
  req.query = queries[0].text;
  auto r1 = p.run(req), r2 = p2.run(req);
  ASSERT_EQ(r1.items.size(), r2.items.size());
  for (std::size_t i = 0; i < r1.items.size(); ++i) EXPECT_EQ(r1.items[i].row, r2.items[i].row);
  // A corpus whose doc count differs from the index's.
  {
    std::ifstream in(world_dir() / "corpus.jsonl");
    std::string line, head;
    for (int i = 0; i < 100 && std::getline(in, line); ++i) head += line + "\n";
    test::write_file(tmp.path() / "small" / "corpus.jsonl", head);
  }
  msg = error_of([&] { Pipeline(index, rank_cascade(r.models, {{"corpus", (tmp.path() / "small").string()}})); });
  EXPECT_TRUE(contains(msg, "100 docs")) << msg;
}

// -------------------------------------------------------------- pre-training

TEST(Pretrain, LearnsMaskedTokensAndInitialisesBothModels) {
  test::TempDir out;
  train::PretrainOptions o;
  o.preset = "tiny";
  o.max_len = 48;
  o.steps_per_epoch = 150;
  o.batch = 32;
  o.lr = 3e-3;
  auto res = train::pretrain_encoder(world_dir(), out.path(), o, {});
  std::printf("  masked-token accuracy untrained %.4f trained %.4f, loss %.3f\n", res.untrained_masked_accuracy,
              res.masked_accuracy, res.epoch_loss.at(0));
  EXPECT_GT(res.masked_accuracy, res.untrained_masked_accuracy);
  EXPECT_EQ(res.model_dir, out.path() / "pretrain");
  for (const char* f : {"config.json", "tokenizer.model", "encoder.pt"})
    EXPECT_TRUE(fs::is_regular_file(out.path() / "pretrain" / f)) << f;
  for (double rate : {0.0, 1.0}) {
    auto bad = o;
    bad.mask_rate = rate;
    test::TempDir o2;
    std::string msg = error_of([&] { train::pretrain_encoder(world_dir(), o2.path(), bad, {}); });
    EXPECT_TRUE(contains(msg, "mask-rate")) << rate << ": " << msg;
  }
  const std::string tok = test::read_file(out.path() / "pretrain" / "tokenizer.model");
  ASSERT_FALSE(tok.empty());
  // The pre-ranker initialised from it uses its tokenizer.
  auto po = tiny_prerank();
  po.init = out.path().string();
  std::vector<std::string> lines;
  auto pr = train::train_prerank(world_dir(), out.path() / "student", po, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_EQ(pr.epochs.size(), 1u);
  EXPECT_EQ(test::read_file(out.path() / "student" / "prerank" / "tokenizer.model"), tok);
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) { return contains(l, "initialised"); }));
  // So does the ranker.
  auto ro = tiny_rank();
  ro.init = out.path().string();
  ro.epochs = 1;
  ro.steps_per_epoch = 10;
  ro.stored_depth = 0;
  lines.clear();
  auto rr = train::train_rank(world_dir(), out.path() / "ranker", ro, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_EQ(rr.epochs.size(), 1u);
  EXPECT_TRUE(std::isfinite(rr.epochs[0].loss));
  EXPECT_EQ(test::read_file(out.path() / "ranker" / "rank" / "tokenizer.model"), tok);
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) { return contains(l, "initialised"); }));
  auto m = model::RankerModel::load(out.path() / "ranker", world_corpus());
  EXPECT_EQ(m->config().encoder.max_len, 48);
  // A pre-trained encoder of another shape is refused.
  auto small = tiny_rank();
  small.preset = "small";
  small.init = out.path().string();
  EXPECT_THROW(train::train_rank(world_dir(), out.path() / "ranker-small", small, {}), Error);
}

// ------------------------------------------------------ ranker distillation

TEST(RankerDistill, StudentReadsTheStoredScoresAndRefusesBadOrStaleOnes) {
  const auto& r = ranker();
  test::TempDir out;
  auto po = tiny_prerank();
  po.ranker_scores = r.models.string();
  po.ranker_queries = 8;
  std::vector<std::string> lines;
  auto pr = train::train_prerank(world_dir(), out.path() / "student", po, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_EQ(pr.epochs.size(), 1u);
  EXPECT_TRUE(std::isfinite(pr.epochs[0].loss));
  json dj = json::parse(test::read_file(out.path() / "student" / "prerank" / "distill.json"));
  EXPECT_EQ(dj.at("ranker_model_id").get<std::string>(), r.result.model_id);
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return contains(l, r.result.model_id); }));

  // A malformed line 2 is reported with the file and line.
  const fs::path copy = out.path() / "ranker-copy";
  fs::copy(r.models, copy, fs::copy_options::recursive);
  const fs::path scores = copy / "rank" / "train_scores.jsonl";
  const std::string original = test::read_file(scores);
  {
    std::istringstream in(original);
    std::string l1, l2, rest, line;
    std::getline(in, l1);
    std::getline(in, l2);
    while (std::getline(in, line)) rest += line + "\n";
    test::write_file(scores, l1 + "\n" + "{\"query_id\": \"q\", \"docs\": [\n" + rest);
  }
  auto pc = po;
  pc.ranker_scores = copy.string();
  std::string msg = error_of([&] { train::train_prerank(world_dir(), out.path() / "student-bad", pc, {}); });
  EXPECT_TRUE(contains(msg, "train_scores.jsonl:2:")) << msg;

  // The ranker retrained with another seed: the old stored scores are stale.
  auto ro = tiny_rank();
  ro.epochs = 1;
  ro.steps_per_epoch = 10;
  ro.seed = 2;
  auto rr = train::train_rank(world_dir(), copy, ro, {});
  EXPECT_NE(rr.model_id, r.result.model_id);
  test::write_file(scores, original);
  msg = error_of([&] { train::train_prerank(world_dir(), out.path() / "student-stale", pc, {}); });
  EXPECT_TRUE(contains(msg, "retrain the ranker")) << msg;
  EXPECT_TRUE(contains(msg, r.result.model_id) && contains(msg, rr.model_id)) << msg;
  // No scores at all.
  pc.ranker_scores = (out.path() / "nowhere").string();
  msg = error_of([&] { train::train_prerank(world_dir(), out.path() / "student-none", pc, {}); });
  EXPECT_TRUE(contains(msg, "train_scores.jsonl")) << msg;
}

// ------------------------------------------------------------ config checks

TEST(RankConfig, CrossRankerFromJsonRejectsBadConfigs) {
  model::CrossRankerConfig c;
  c.encoder = model::encoder_preset("tiny");
  c.n_features = 3;
  c.feature_mean = {0, 0, 0};
  c.feature_std = {1, 2, 3};
  c.feature_names = {"a", "b", "c"};
  c.dnn = {16, 8};
  c.tasks = {"relevance", "click"};
  c.task_weights = {1.0, 0.5};
  c.score_weights = {1.0, 0.0};
  const json good = model::to_json(c);
  auto back = model::cross_ranker_from_json(good, "cfg");
  EXPECT_EQ(model::to_json(back), good);
  auto rejects = [&](const std::string& what, const std::function<void(json&)>& edit, const std::string& says) {
    json j = good;
    edit(j);
    std::string msg = error_of([&] { model::cross_ranker_from_json(j, "where.json"); });
    EXPECT_TRUE(contains(msg, "where.json") && contains(msg, says)) << what << ": " << msg;
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

}  // namespace
}  // namespace funnel
