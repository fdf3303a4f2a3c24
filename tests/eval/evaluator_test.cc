// The evaluator on scoring stages: offline AUCs of every stage that scores,
// and the order consistency of a pre-ranker with the ranker after it. This
// binary registers a fake stage type ("fake") whose scores are simple
// functions of (query, row), so the expected values can be computed here;
// the role it declares (pre-rank or rank) comes from its config, so the
// evaluator cannot lean on type names.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "funnel/eval.h"
#include "funnel/index.h"
#include "funnel/metrics.h"
#include "funnel/pipeline.h"
#include "test_util.h"

namespace funnel {
namespace {
using nlohmann::json;

// The score of a fake scoring stage: (sq*row^2 + mul*row + add*|query|) mod
// `mod`, so small moduli give many ties.
struct FakeFn {
  std::uint64_t sq = 0, mul = 1, add = 0, mod = 7;
  double operator()(const std::string& query, std::uint32_t row) const {
    return static_cast<double>((sq * row * row + mul * row + add * query.size()) % mod);
  }
  json to_json() const { return {{"sq", sq}, {"mul", mul}, {"add", add}, {"mod", mod}}; }
};

// Scores every candidate with its FakeFn, sorts best first (stable) and keeps
// `keep` (config, per-request override; default all).
class FakeScoringStage final : public Stage {
 public:
  explicit FakeScoringStage(const json& c)
      : fn_{c.value("sq", std::uint64_t{0}), c.value("mul", std::uint64_t{1}), c.value("add", std::uint64_t{0}),
            c.value("mod", std::uint64_t{7})},
        keep_(c.value("keep", std::size_t{0})),
        role_(c.value("role", "") == "prerank" ? StageRole::kPrerank
              : c.value("role", "") == "rank"  ? StageRole::kRank
                                               : StageRole::kOther) {}
  bool scores() const override { return true; }
  StageRole role() const override { return role_; }
  void score(const StageContext& ctx, std::span<Candidate> c) const override {
    for (auto& cand : c) cand.score = fn_(ctx.request.query, cand.row);
  }
  void run(const StageContext& ctx, std::vector<Candidate>& c) const override {
    for (auto& cand : c) cand.score = fn_(ctx.request.query, cand.row);
    std::stable_sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    std::size_t keep = ctx.overrides.value("keep", keep_);
    if (keep > 0 && c.size() > keep) c.resize(keep);
  }

 private:
  FakeFn fn_;
  std::size_t keep_;
  StageRole role_;
};

std::unique_ptr<Stage> make_fake(const json& c, const Index&, const std::string&) {
  return std::make_unique<FakeScoringStage>(c);
}

const FakeFn kPre{0, 5, 1, 7};    // the pre-ranker
const FakeFn kPre1{0, 3, 2, 5};   // an earlier pre-ranker
const FakeFn kRank{1, 0, 3, 11};  // the ranker

json recall_stage(std::size_t quota) {
  return {{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", quota}}}}};
}
// A fake scoring stage declaring `role` ("prerank", "rank" or "" for none).
json scoring_stage(const std::string& name, const std::string& role, const FakeFn& fn, std::size_t keep = 0) {
  json s = fn.to_json();
  s["name"] = name;
  s["type"] = "fake";
  s["role"] = role;
  if (keep > 0) s["keep"] = keep;
  return s;
}

// The pooled and per-request consistency computed here, pair by pair.
struct Expected {
  double mean = std::numeric_limits<double>::quiet_NaN();
  double overall = std::numeric_limits<double>::quiet_NaN();
  std::size_t queries = 0;  // requests with a strictly ordered pair
};

class ConsistencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    register_stage_type("fake", make_fake);
    Corpus c;
    // 40 docs: "guitar" in rows 0..29 (tf decreasing), "piano" in rows
    // 10..39 (tf increasing), "drum" in rows 5, 17 and 33.
    for (int i = 0; i < 40; ++i) {
      std::string id = "d";
      id += std::to_string(i);
      std::string text;
      if (i < 30)
        for (int k = 0; k < 30 - i; ++k) text += "guitar ";
      if (i >= 10)
        for (int k = 0; k < i - 9; ++k) text += "piano ";
      if (i == 5 || i == 17 || i == 33) text += "drum ";
      c.row_of[id] = static_cast<std::uint32_t>(c.docs.size());
      std::string title = "title ";
      title += id;
      text += "filler words here";
      c.docs.push_back(Doc{id, title, text, {}, "", "", {}, {}});
    }
    build_index(c, tmp_.path() / "i", IndexOptions{});
    index_ = Index::open(tmp_.path() / "i");
    queries_ = {{"q1", "guitar"}, {"q2", "piano"}, {"q3", "drum"},
                {"q4", "guitar piano"}, {"q5", "zzzz"}, {"q6", "guitar"}};
    // q6 has no judgment (not evaluated); q5 matches nothing (no pair).
    qrels_ = {{"q1", {{"d0", 1}}}, {"q2", {{"d39", 2}}}, {"q3", {{"d5", 1}}},
              {"q4", {{"d12", 1}}}, {"q5", {{"d1", 1}}}};
  }

  // Runs the evaluated queries through `p` and computes the consistency of
  // `pre` (stage `pre_stage`'s survivors) with `rank`, without
  // metrics::order_consistency_counts or Pipeline::score_rows.
  Expected expected(const Pipeline& p, std::size_t pre_stage, const FakeFn& pre, const FakeFn& rank,
                    bool swap = false) const {
    Expected e;
    double sum = 0, agreeing = 0, pairs = 0;
    for (const auto& q : queries_) {
      if (!qrels_.count(q.id)) continue;
      Request req;
      req.query = q.text;
      req.k = 1000;
      req.trace_survivors = true;
      const auto rows = p.run(req).trace.at(pre_stage).survivors;
      double a = 0, n = 0;
      for (std::size_t i = 0; i < rows.size(); ++i)
        for (std::size_t j = i + 1; j < rows.size(); ++j) {
          double r = rank(q.text, rows[i]) - rank(q.text, rows[j]);
          double o = pre(q.text, rows[i]) - pre(q.text, rows[j]);
          if (swap) std::swap(r, o);
          if (r == 0) continue;
          n += 1;
          a += o == 0 ? 0.5 : ((o > 0) == (r > 0) ? 1.0 : 0.0);
        }
      if (n == 0) continue;
      sum += a / n;
      agreeing += a;
      pairs += n;
      ++e.queries;
    }
    if (e.queries > 0) {
      e.mean = sum / static_cast<double>(e.queries);
      e.overall = agreeing / pairs;
    }
    return e;
  }

  test::TempDir tmp_;
  std::shared_ptr<const Index> index_;
  std::vector<Query> queries_;
  Qrels qrels_;
};

TEST_F(ConsistencyTest, PrerankThenRank) {
  json cfg = {{"stages", {recall_stage(20), scoring_stage("prerank", "prerank", kPre, 10),
                          scoring_stage("rank", "rank", kRank)}}};
  Pipeline p(index_, cfg);
  const Expected e = expected(p, 1, kPre, kRank);
  // The fixture must tell the two means apart, and the two directions.
  ASSERT_EQ(e.queries, 4u);  // q1..q4; q5 has no candidates
  ASSERT_GT(std::abs(e.mean - e.overall), 1e-3);
  const Expected swapped = expected(p, 1, kPre, kRank, /*swap=*/true);
  ASSERT_GT(std::abs(e.mean - swapped.mean), 1e-3);

  EvalOptions o;
  o.k = 100;
  EvalResult r = evaluate(p, queries_, qrels_, o);
  EXPECT_EQ(r.queries, 5u);
  EXPECT_EQ(r.consistency_stages, "prerank->rank");
  EXPECT_EQ(r.consistency_queries, e.queries);
  EXPECT_NEAR(r.consistency_prerank_rank, e.mean, 1e-12);
  EXPECT_NEAR(r.consistency_prerank_rank_overall, e.overall, 1e-12);

  json j = eval_to_json(r);
  ASSERT_TRUE(j["metrics"].contains("consistency_prerank_rank"));
  ASSERT_TRUE(j["metrics"].contains("consistency_prerank_rank_overall"));
  EXPECT_NEAR(j["metrics"]["consistency_prerank_rank"].get<double>(), e.mean, 1e-12);
  EXPECT_NEAR(j["metrics"]["consistency_prerank_rank_overall"].get<double>(), e.overall, 1e-12);
  EXPECT_EQ(j["consistency_stages"], "prerank->rank");
  // Without impressions or labels, no AUC keys.
  for (const auto& s : j["stages"]) EXPECT_FALSE(s.contains("auc")) << s.dump();

  char want[160];
  std::snprintf(want, sizeof want, "order consistency prerank->rank: %.4f per request (mean), %.4f over all pairs\n",
                e.mean, e.overall);
  EXPECT_NE(eval_to_table(r).find(want), std::string::npos) << eval_to_table(r);
  EXPECT_NE(eval_to_markdown(r).find(want), std::string::npos) << eval_to_markdown(r);
}

TEST_F(ConsistencyTest, UsesTheLastPrerankBeforeTheRank) {
  // pre1 keeps 15, pre2 8 of them, truncate 5: the consistency is pre2's, on
  // the 8 rows pre2 kept (not on the 5 the ranker received).
  json cfg = {{"stages",
               {recall_stage(20), scoring_stage("pre1", "prerank", kPre1, 15), scoring_stage("pre2", "prerank", kPre, 8),
                {{"name", "cut"}, {"type", "truncate"}, {"keep", 5}}, scoring_stage("final", "rank", kRank),
                scoring_stage("pre3", "prerank", kPre1)}}};
  Pipeline p(index_, cfg);
  const Expected e = expected(p, 2, kPre, kRank);
  ASSERT_GT(e.queries, 0u);
  const Expected first = expected(p, 1, kPre1, kRank);
  ASSERT_GT(std::abs(e.mean - first.mean), 1e-3);

  EvalResult r = evaluate(p, queries_, qrels_, EvalOptions{});
  EXPECT_EQ(r.consistency_stages, "pre2->final");
  EXPECT_NEAR(r.consistency_prerank_rank, e.mean, 1e-12);
  EXPECT_NEAR(r.consistency_prerank_rank_overall, e.overall, 1e-12);
}

TEST_F(ConsistencyTest, NoRankAfterPrerankLeavesItNan) {
  for (const json& stages : {json{recall_stage(20), scoring_stage("prerank", "prerank", kPre, 10)},
                             json{recall_stage(20), scoring_stage("rank", "rank", kRank, 10),
                                  scoring_stage("prerank", "prerank", kPre)}}) {
    Pipeline p(index_, json{{"stages", stages}});
    EvalResult r = evaluate(p, queries_, qrels_, EvalOptions{});
    EXPECT_TRUE(std::isnan(r.consistency_prerank_rank));
    EXPECT_TRUE(std::isnan(r.consistency_prerank_rank_overall));
    EXPECT_EQ(r.consistency_stages, "");
    json j = eval_to_json(r);
    EXPECT_FALSE(j["metrics"].contains("consistency_prerank_rank")) << j.dump();
    EXPECT_FALSE(j["metrics"].contains("consistency_prerank_rank_overall")) << j.dump();
    EXPECT_FALSE(j.contains("consistency_stages"));
    EXPECT_EQ(eval_to_table(r).find("order consistency"), std::string::npos);
    EXPECT_EQ(eval_to_markdown(r).find("order consistency"), std::string::npos);
  }
}

TEST_F(ConsistencyTest, PairWithoutAnyOrderedPairIsNotANumber) {
  // Only q5 (no candidates) evaluated: the pair exists, nothing to count.
  Pipeline p(index_, json{{"stages", {recall_stage(20), scoring_stage("prerank", "prerank", kPre, 10),
                                      scoring_stage("rank", "rank", kRank)}}});
  Qrels only_q5 = {{"q5", {{"d1", 1}}}};
  EvalResult r = evaluate(p, queries_, only_q5, EvalOptions{});
  EXPECT_EQ(r.queries, 1u);
  EXPECT_EQ(r.consistency_stages, "prerank->rank");
  EXPECT_TRUE(std::isnan(r.consistency_prerank_rank));
  EXPECT_TRUE(std::isnan(r.consistency_prerank_rank_overall));
  json j = eval_to_json(r);
  EXPECT_FALSE(j["metrics"].contains("consistency_prerank_rank"));
  EXPECT_FALSE(j["metrics"].contains("consistency_prerank_rank_overall"));
  EXPECT_NE(eval_to_table(r).find("order consistency prerank->rank: n/a per request (mean), n/a over all pairs"),
            std::string::npos);
}

TEST_F(ConsistencyTest, RankStagesGetTheScoringMetrics) {
  json cfg = {{"stages", {recall_stage(20), scoring_stage("prerank", "prerank", kPre, 10),
                          scoring_stage("rank", "rank", kRank)}}};
  Pipeline p(index_, cfg);
  // Two requests of q1 and q2, clicks on both sides in each.
  std::vector<Impression> imps;
  auto add = [&](const std::string& rid, const std::string& qid, const std::string& doc, bool click) {
    Impression im;
    im.request_id = rid;
    im.query_id = qid;
    im.doc_id = doc;
    im.position = static_cast<int>(imps.size());
    im.click = click;
    imps.push_back(im);
  };
  add("r1", "q1", "d0", true);
  add("r1", "q1", "d1", false);
  add("r1", "q1", "d2", true);
  add("r1", "q1", "d3", false);
  add("r2", "q2", "d39", true);
  add("r2", "q2", "d38", false);
  add("r2", "q2", "d10", false);
  add("r3", "q6", "d4", true);  // q6 is not evaluated: ignored
  Qrels human = {{"q1", {{"d0", 3}, {"d1", 0}, {"d2", 2}, {"d4", 1}}}};
  EvalOptions o;
  o.impressions = &imps;
  o.human_labels = &human;
  EvalResult r = evaluate(p, queries_, qrels_, o);

  // The rank stage's metrics, computed here from its score function.
  auto row = [&](const std::string& doc) { return static_cast<std::uint32_t>(std::stoi(doc.substr(1))); };
  std::vector<float> sc, lab;
  std::vector<std::uint64_t> grp;
  for (const auto& im : imps) {
    if (im.query_id == "q6") continue;
    const std::string& text = im.query_id == "q1" ? queries_[0].text : queries_[1].text;
    sc.push_back(static_cast<float>(kRank(text, row(im.doc_id))));
    lab.push_back(im.click ? 1.0f : 0.0f);
    grp.push_back(im.request_id == "r1" ? 0 : 1);
  }
  std::vector<float> lsc, llab;
  for (const auto& [doc, grade] : human.at("q1")) {
    lsc.push_back(static_cast<float>(kRank(queries_[0].text, row(doc))));
    llab.push_back(grade >= 2 ? 1.0f : 0.0f);
  }
  ASSERT_EQ(r.stages.size(), 3u);
  const StageEval& rank = r.stages[2];
  EXPECT_NEAR(rank.auc, metrics::auc(sc, lab), 1e-12);
  EXPECT_NEAR(rank.gauc, metrics::gauc(sc, lab, grp), 1e-12);
  EXPECT_NEAR(rank.label_auc, metrics::auc(lsc, llab), 1e-12);
  EXPECT_TRUE(std::isnan(r.stages[0].auc));

  json j = eval_to_json(r);
  for (std::size_t s : {1u, 2u})
    for (const char* key : {"auc", "gauc", "label_auc"}) EXPECT_TRUE(j["stages"][s].contains(key)) << s << key;
  for (const char* key : {"auc", "gauc", "label_auc"}) EXPECT_FALSE(j["stages"][0].contains(key)) << key;
  EXPECT_NEAR(j["stages"][2]["label_auc"].get<double>(), rank.label_auc, 1e-12);
  char line[64];
  std::snprintf(line, sizeof line, "%-14s click AUC %.4f", "rank", rank.auc);
  EXPECT_NE(eval_to_table(r).find(line), std::string::npos) << eval_to_table(r);
}

// A stage that scores gets the scoring metrics whatever its role, and the
// consistency needs a declared pre-ranker before a declared ranker.
TEST_F(ConsistencyTest, TheEvaluatorAsksTheStagesNotTheirTypeNames) {
  Pipeline p(index_, json{{"stages", {recall_stage(20), scoring_stage("a", "", kPre, 10), scoring_stage("b", "", kRank)}}});
  EXPECT_TRUE(p.stage_scores(1));
  EXPECT_FALSE(p.stage_scores(0));
  EXPECT_EQ(p.stage_role(0), StageRole::kRecall);
  EXPECT_EQ(p.stage_role(1), StageRole::kOther);
  std::vector<Impression> imps;
  for (const char* d : {"d0", "d1", "d2", "d3"}) {
    Impression im;
    im.request_id = "r1";
    im.query_id = "q1";
    im.doc_id = d;
    im.click = std::string(d) == "d1";
    imps.push_back(im);
  }
  EvalOptions eo;
  eo.impressions = &imps;
  const EvalResult r = evaluate(p, queries_, qrels_, eo);
  EXPECT_FALSE(std::isnan(r.stages[1].auc));
  EXPECT_FALSE(std::isnan(r.stages[2].auc));
  EXPECT_TRUE(std::isnan(r.stages[0].auc));
  EXPECT_TRUE(std::isnan(r.consistency_prerank_rank));  // no stage declared itself pre-rank and rank
  EXPECT_EQ(r.consistency_stages, "");
}

}  // namespace
}  // namespace funnel
