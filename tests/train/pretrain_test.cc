// Masked-language-model pre-training: it learns more than token
// frequencies, and its encoder and tokenizer initialise both the student
// and the ranker.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "fixture.h"
#include "funnel/data.h"
#include "funnel/error.h"
#include "funnel/train.h"
#include "rank/ranker_model.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;

TEST(Pretrain, LearnsMaskedTokensAndInitialisesBothModels) {
  test::TempDir out;
  train::PretrainOptions o;
  o.preset = "tiny";
  o.max_len = 48;
  o.steps_per_epoch = 1000;
  o.batch = 32;
  o.lr = 1e-2;
  auto res = train::pretrain_encoder(test::world_dir(), out.path(), o, {});
  std::printf("  masked-token accuracy untrained %.4f, the most frequent token %.4f, trained %.4f, loss %.3f\n",
              res.untrained_masked_accuracy, res.baseline_masked_accuracy, res.masked_accuracy, res.epoch_loss.at(0));
  // The encoder learnt more than token frequencies: it beats the most
  // frequent token (the same masks) by a clear margin.
  EXPECT_GT(res.baseline_masked_accuracy, 0.0);
  EXPECT_GT(res.masked_accuracy, res.baseline_masked_accuracy * 1.4);
  EXPECT_EQ(res.model_dir, out.path() / "pretrain");
  for (const char* f : {"config.json", "tokenizer.model", "encoder.pt"})
    EXPECT_TRUE(fs::is_regular_file(out.path() / "pretrain" / f)) << f;
  for (double rate : {0.0, 1.0}) {
    auto bad = o;
    bad.mask_rate = rate;
    test::TempDir o2;
    std::string msg = test::error_of([&] { train::pretrain_encoder(test::world_dir(), o2.path(), bad, {}); });
    EXPECT_TRUE(test::contains(msg, "mask-rate")) << rate << ": " << msg;
  }
  const std::string tok = test::read_file(out.path() / "pretrain" / "tokenizer.model");
  ASSERT_FALSE(tok.empty());
  // The pre-ranker initialised from it uses its tokenizer.
  auto po = test::tiny_student_options("dot");
  po.init = out.path().string();
  std::vector<std::string> lines;
  auto pr = train::train_prerank(test::world_dir(), out.path() / "student", po, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_EQ(pr.epochs.size(), 1u);
  EXPECT_EQ(test::read_file(out.path() / "student" / "prerank" / "tokenizer.model"), tok);
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) { return test::contains(l, "initialised"); }));
  // So does the ranker.
  auto ro = test::tiny_rank_options();
  ro.init = out.path().string();
  ro.epochs = 1;
  ro.steps_per_epoch = 10;
  ro.stored_depth = 0;
  lines.clear();
  auto rr = train::train_rank(test::world_dir(), out.path() / "ranker", ro, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_EQ(rr.epochs.size(), 1u);
  EXPECT_TRUE(std::isfinite(rr.epochs[0].loss));
  EXPECT_EQ(test::read_file(out.path() / "ranker" / "rank" / "tokenizer.model"), tok);
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) { return test::contains(l, "initialised"); }));
  auto m = rank::RankerModel::load(out.path() / "ranker", std::make_shared<const Corpus>(read_corpus(test::world_dir() / "corpus.jsonl")));
  EXPECT_EQ(m->config().encoder.max_len, 48);
  // A pre-trained encoder of another shape is refused.
  auto small = test::tiny_rank_options();
  small.preset = "small";
  small.init = out.path().string();
  EXPECT_THROW(train::train_rank(test::world_dir(), out.path() / "ranker-small", small, {}), Error);
}

}  // namespace
}  // namespace funnel
