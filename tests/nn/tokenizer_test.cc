// The sentencepiece tokenizer: its max_len contract, ids within the
// vocabulary, case folding, deterministic training, and errors that name
// the model file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "funnel/error.h"
#include "nn/tokenizer.h"
#include "test_util.h"

namespace funnel::nn {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> sentences() {
  std::vector<std::string> s;
  const char* words[] = {"captain", "rocket", "cooking", "pasta", "guitar", "lesson", "funny", "cat", "video",
                         "travel",  "vlog",   "river",   "mountain", "news", "daily", "review"};
  for (int i = 0; i < 400; ++i)
    s.push_back(std::string(words[i % 16]) + " " + words[(i * 7) % 16] + " " + words[(i * 3 + 1) % 16] + " " +
                std::to_string(i % 10));
  return s;
}

class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    Tokenizer::train(sentences(), dir_->path() / "tok", 60, 1);
  }
  static void TearDownTestSuite() { delete dir_; }
  static fs::path model() { return dir_->path() / "tok.model"; }
  static test::TempDir* dir_;
};
test::TempDir* TokenizerTest::dir_ = nullptr;

TEST_F(TokenizerTest, ClsThenAtMostMaxLenMinusOnePieces) {
  Tokenizer tok(model());
  const std::string text = "captain rocket cooking pasta guitar lesson funny cat video travel";
  EXPECT_TRUE(tok.encode(text, 0).empty());
  EXPECT_EQ(tok.encode(text, 1), (std::vector<std::int64_t>{Tokenizer::kCls}));
  for (std::size_t m : {2u, 3u, 8u, 64u}) {
    const auto ids = tok.encode(text, m);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), Tokenizer::kCls);
    EXPECT_LE(ids.size(), m);
    if (m < 8) {
      EXPECT_EQ(ids.size(), m);  // the text has more pieces than that
    }
  }
  const auto full = tok.encode(text, 64);
  EXPECT_GT(full.size(), 8u);
  // A longer budget extends the sequence; it never changes its prefix.
  const auto eight = tok.encode(text, 8);
  EXPECT_TRUE(std::equal(eight.begin(), eight.end(), full.begin()));
  EXPECT_EQ(tok.encode("", 10), (std::vector<std::int64_t>{Tokenizer::kCls}));
}

TEST_F(TokenizerTest, IdsLieInTheVocabularyAndCaseIsFolded) {
  Tokenizer tok(model());
  EXPECT_GE(tok.vocab_size(), 30);
  for (const auto& s : sentences())
    for (auto id : tok.encode(s + " UNSEEN-Wörds 日本", 64)) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, tok.vocab_size());
    }
  EXPECT_EQ(tok.encode("Captain ROCKET", 16), tok.encode("captain rocket", 16));
  EXPECT_NE(tok.encode("captain rocket", 16), tok.encode("cooking pasta", 16));
}

TEST_F(TokenizerTest, TrainingIsDeterministic) {
  test::TempDir other;
  Tokenizer::train(sentences(), other.path() / "tok", 60, 1);
  // The pieces and their scores (the model file also records the input path).
  EXPECT_EQ(test::read_file(other.path() / "tok.vocab"), test::read_file(dir_->path() / "tok.vocab"));
  Tokenizer a(model()), b(other.path() / "tok.model");
  for (const auto& s : sentences()) ASSERT_EQ(a.encode(s, 32), b.encode(s, 32)) << s;
}

// Text over 3,000 distinct Han characters with Zipf frequencies, as Chinese
// titles are: far more characters than a 1,000-piece vocabulary can hold.
std::vector<std::string> chinese_like(std::size_t n_sentences) {
  std::mt19937 rng(3);
  std::vector<double> w(3000);
  for (std::size_t k = 0; k < w.size(); ++k) w[k] = 1.0 / static_cast<double>(k + 1);
  std::discrete_distribution<int> pick(w.begin(), w.end());
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n_sentences; ++i) {
    std::string s;
    for (int j = 0; j < 20; ++j) {
      const char32_t c = 0x4E00 + static_cast<char32_t>(pick(rng));  // 3 UTF-8 bytes
      s += static_cast<char>(0xE0 | (c >> 12));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (c & 0x3F));
    }
    out.push_back(s);
  }
  return out;
}

TEST(Tokenizer, ManyDistinctCharactersFitASmallVocabulary) {
  const auto text = chinese_like(3000);
  // English keeps every character; Chinese-like text its 500 most frequent.
  double share = 0;
  EXPECT_EQ(Tokenizer::kept_characters(sentences(), 60, &share).size(), 20u + 10u);  // the words' letters, 0-9
  EXPECT_EQ(share, 1.0);
  const auto kept = Tokenizer::kept_characters(text, 1000, &share);
  EXPECT_EQ(kept.size(), 500u);
  EXPECT_EQ(kept[0], "\u4E00");  // the most frequent
  EXPECT_LT(share, 1.0);
  EXPECT_GT(share, 0.7);
  // With every character sentencepiece refuses ("Vocabulary size is smaller
  // than required_chars"); with the kept ones it trains within the vocabulary.
  test::TempDir dir;
  ASSERT_NO_THROW(Tokenizer::train(text, dir.path() / "zh", 1000, 1));
  Tokenizer tok(dir.path() / "zh.model");
  EXPECT_LE(tok.vocab_size(), 1000);
  std::size_t pieces = 0, unknown = 0;
  for (const auto& s : chinese_like(200)) {
    const auto ids = tok.encode(s, 64);
    for (std::size_t i = 1; i < ids.size(); ++i) {
      ++pieces;
      unknown += ids[i] == Tokenizer::kPad ? 1 : 0;  // <unk>
      EXPECT_LT(ids[i], tok.vocab_size());
    }
  }
  const double unk_rate = static_cast<double>(unknown) / static_cast<double>(pieces);
  std::printf("  kept share %.4f, vocabulary %d, unknown pieces %.3f\n", share, tok.vocab_size(), unk_rate);
  EXPECT_GT(unknown, 0u);                   // the rare characters are <unk>
  EXPECT_LT(unk_rate, 1.0 - share + 0.05);  // about the share left out, not more
}

TEST(Tokenizer, ErrorsNameTheFile) {
  test::TempDir tmp;
  std::string msg = test::error_of([&] { Tokenizer t(tmp.path() / "missing.model"); });
  EXPECT_TRUE(test::contains(msg, "missing.model")) << msg;
  test::write_file(tmp.path() / "junk.model", "not a sentencepiece model");
  msg = test::error_of([&] { Tokenizer t(tmp.path() / "junk.model"); });
  EXPECT_TRUE(test::contains(msg, "junk.model")) << msg;
  msg = test::error_of([&] { Tokenizer::train({"a b c"}, tmp.path() / "no-such-folder" / "t", 60, 1); });
  EXPECT_TRUE(test::contains(msg, "no-such-folder")) << msg;
}

}  // namespace
}  // namespace funnel::nn
