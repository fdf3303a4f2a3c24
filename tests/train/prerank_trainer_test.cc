// The two-tower student's training: it learns (held-out queries, against a
// barely trained copy of itself), it is deterministic and resumable, it
// distils from a teacher and from the ranker's stored scores, and it refuses
// bad data, options and stale scores.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fixture.h"
#include "funnel/data.h"
#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/train.h"
#include "prerank/prerank_model.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// Per test query: the share of its relevant docs among BM25's top 100 that
// the student alone puts in its top 20 (libtorch scores).
std::vector<double> held_out_recall(const fs::path& models) {
  auto model = prerank::PrerankModel::load(models);
  const Corpus corpus = read_corpus(test::world_dir() / "corpus.jsonl");
  auto index = Index::open(test::index_dir());
  const Qrels test_qrels = load_qrels(test::world_dir(), "test");
  std::vector<double> out;
  for (const auto& q : read_queries(test::world_dir() / "queries.jsonl")) {
    auto it = test_qrels.find(q.id);
    if (it == test_qrels.end()) continue;
    std::vector<std::uint32_t> rows;
    std::size_t relevant = 0;
    for (const auto& h : index->channel("bm25")->search(q.text, 100)) {
      rows.push_back(h.row);
      auto j = it->second.find(corpus.docs[h.row].id);
      relevant += j != it->second.end() && j->second > 0;
    }
    if (relevant == 0) continue;
    const auto scores = model->score(q.text, corpus, rows);
    std::vector<std::size_t> idx(rows.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
    std::size_t kept = 0;
    for (std::size_t i = 0; i < 20 && i < idx.size(); ++i) {
      auto j = it->second.find(corpus.docs[rows[idx[i]]].id);
      kept += j != it->second.end() && j->second > 0;
    }
    out.push_back(static_cast<double>(kept) / static_cast<double>(relevant));
  }
  return out;
}

// The learning check: a student trained 3 x 100 steps against the same
// student after one step, paired per held-out query (the test split, which
// neither training nor the choice of the epoch saw); the mean gain must
// exceed twice its standard error.
TEST(PrerankTrain, LearnsBeyondABarelyTrainedStudentOnHeldOutQueries) {
  test::TempDir out;
  auto o = test::tiny_student_options();
  o.epochs = 3;
  o.steps_per_epoch = 100;
  const auto r = train::train_prerank(test::world_dir(), out.path() / "trained", o, {});
  ASSERT_EQ(r.epochs.size(), 3u);
  EXPECT_LT(r.epochs.back().loss, r.epochs.front().loss * 0.9);
  auto b = o;
  b.epochs = 1;
  b.steps_per_epoch = 1;
  train::train_prerank(test::world_dir(), out.path() / "barely", b, {});
  const auto trained = held_out_recall(out.path() / "trained"), barely = held_out_recall(out.path() / "barely");
  ASSERT_EQ(trained.size(), barely.size());
  ASSERT_GE(trained.size(), 30u);
  std::vector<double> d(trained.size());
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = trained[i] - barely[i];
  const auto gain = test::paired_gain(d);
  std::printf("  %zu held-out queries: Recall@20 of BM25's top 100, trained - barely trained = %+.4f (se %.4f)\n",
              d.size(), gain.mean, gain.se);
  EXPECT_GT(gain.mean, 2 * gain.se);
  // Head report: nq x nq and nd x nd, ones on the diagonal, cosines within [-1, 1].
  ASSERT_EQ(r.query_head_cosine.size(), 9u);
  ASSERT_EQ(r.doc_head_cosine.size(), 9u);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(r.query_head_cosine[static_cast<std::size_t>(i * 4)], 1.0, 1e-5);
  for (double x : r.doc_head_cosine) EXPECT_LE(std::fabs(x), 1.0 + 1e-6);
  for (const char* f : {"config.json", "tokenizer.model", "model.pt", "checkpoint.pt", "train_log.jsonl", "fusion.json"})
    EXPECT_TRUE(fs::exists(out.path() / "trained" / "prerank" / f)) << f;
  EXPECT_FALSE(fs::exists(out.path() / "trained" / "prerank" / "bm25.tmp"));
}

TEST(PrerankTrain, DeterministicForASeedAndResumable) {
  test::TempDir a, b;
  auto o = test::tiny_student_options("dot");
  o.epochs = 2;
  o.steps_per_epoch = 20;
  auto ra = train::train_prerank(test::world_dir(), a.path(), o, {});
  // b: one epoch, then resume for the second.
  auto o1 = o;
  o1.epochs = 1;
  train::train_prerank(test::world_dir(), b.path(), o1, {});
  auto o2 = o;
  o2.resume = true;
  auto rb = train::train_prerank(test::world_dir(), b.path(), o2, {});
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
    train::train_prerank(test::world_dir(), b.path(), o3, {});
    ADD_FAILURE() << "resume with another head size was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("head_dim"), std::string::npos) << e.what();
  }
}

TEST(PrerankTrain, DistilsFromATeacherWithChildTuning) {
  test::TempDir out;
  auto o = test::tiny_student_options("dot");
  o.epochs = 1;
  o.steps_per_epoch = 20;
  train::train_prerank(test::world_dir(), out.path() / "teacher", o, {});
  auto s = test::tiny_student_options("soft_attention");
  s.epochs = 1;
  s.steps_per_epoch = 20;
  s.teacher = (out.path() / "teacher").string();
  s.distill_inbatch = 1.0;
  s.child_tuning = "D";
  s.child_fisher_batches = 3;
  std::vector<std::string> lines;
  auto r = train::train_prerank(test::world_dir(), out.path() / "student", s, [&](const std::string& l) { lines.push_back(l); });
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
  auto rt = train::train_prerank(test::world_dir(), out.path() / "with-teacher", with_teacher, {});
  auto rp = train::train_prerank(test::world_dir(), out.path() / "plain", plain, {});
  EXPECT_GT(rt.epochs[0].loss, rp.epochs[0].loss + 0.1) << rt.epochs[0].loss << " vs " << rp.epochs[0].loss;
  s.teacher = (out.path() / "nowhere").string();
  EXPECT_THROW(train::train_prerank(test::world_dir(), out.path() / "student2", s, {}), Error);
  s.teacher.clear();
  s.child_tuning = "X";
  EXPECT_THROW(train::train_prerank(test::world_dir(), out.path() / "student3", s, {}), Error);
}

TEST(PrerankTrain, RejectsBadData) {
  test::TempDir out;
  test::write_file(out.path() / "data" / "corpus.jsonl", "{\"id\": \"a\", \"title\": \"x\"}\n");
  test::write_file(out.path() / "data" / "queries.jsonl", "{\"id\": \"q\", \"text\": \"x\"}\n");
  EXPECT_THROW(train::train_prerank(out.path() / "data", out.path() / "m", test::tiny_student_options(), {}), Error);
}

TEST(RankerDistill, StudentReadsTheStoredScoresAndRefusesBadOrStaleOnes) {
  const std::string ranker_id = test::fixture_json("ranker.json").at("model_id").get<std::string>();
  test::TempDir out;
  auto po = test::tiny_student_options("dot");
  po.ranker_scores = test::models_dir().string();
  po.ranker_queries = 8;
  std::vector<std::string> lines;
  auto pr = train::train_prerank(test::world_dir(), out.path() / "student", po, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_EQ(pr.epochs.size(), 1u);
  EXPECT_TRUE(std::isfinite(pr.epochs[0].loss));
  json dj = json::parse(test::read_file(out.path() / "student" / "prerank" / "distill.json"));
  EXPECT_EQ(dj.at("ranker_model_id").get<std::string>(), ranker_id);
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return test::contains(l, ranker_id); }));

  // A malformed line 2 is reported with the file and line.
  const fs::path copy = out.path() / "ranker-copy";
  fs::copy(test::models_dir(), copy, fs::copy_options::recursive);
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
  std::string msg = test::error_of([&] { train::train_prerank(test::world_dir(), out.path() / "student-bad", pc, {}); });
  EXPECT_TRUE(test::contains(msg, "train_scores.jsonl:2:")) << msg;

  // The ranker retrained with another seed: the old stored scores are stale.
  auto ro = test::tiny_rank_options();
  ro.epochs = 1;
  ro.steps_per_epoch = 10;
  ro.seed = 2;
  auto rr = train::train_rank(test::world_dir(), copy, ro, {});
  EXPECT_NE(rr.model_id, ranker_id);
  test::write_file(scores, original);
  msg = test::error_of([&] { train::train_prerank(test::world_dir(), out.path() / "student-stale", pc, {}); });
  EXPECT_TRUE(test::contains(msg, "retrain the ranker")) << msg;
  EXPECT_TRUE(test::contains(msg, ranker_id) && test::contains(msg, rr.model_id)) << msg;
  // No scores at all.
  pc.ranker_scores = (out.path() / "nowhere").string();
  msg = test::error_of([&] { train::train_prerank(test::world_dir(), out.path() / "student-none", pc, {}); });
  EXPECT_TRUE(test::contains(msg, "train_scores.jsonl")) << msg;
}

}  // namespace
}  // namespace funnel
