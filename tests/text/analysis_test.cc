// One BM25: the cross features score a field with the recall channel's
// formula and defaults, so for the same text and query they give the score
// Xapian gives, in English and in Chinese; the shared stemmer factory.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "funnel/error.h"
#include "funnel/recall.h"
#include "rank/cross_features.h"
#include "test_util.h"
#include "text/analysis.h"

namespace funnel {
namespace {

const std::vector<std::string> kEnglish = {
    "funny cat videos and more cat videos",
    "dog training videos",
    "cooking pasta with tomato sauce",
    "cat food review for picky cats",
    "a long documentary about rivers mountains and the animals living near rivers",
    "pasta recipes",
    "travel vlog across mountains",
    "cat",
};
const std::vector<std::string> kChinese = {
    "小猪佩奇第一集 泥坑里跳来跳去", "红烧肉的做法 家常菜", "佩奇和乔治去海边", "ＭＶ 红烧排骨的做法大全",
    "谷丙转氨酶53 偏高怎么办",       "猫咪视频合集",         "Peppa Pig 佩奇 英文版",
};

Corpus body_only(const std::vector<std::string>& texts) {
  Corpus c;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    Doc d;
    d.id = "d" + std::to_string(i);
    d.text = texts[i];
    c.row_of[d.id] = static_cast<std::uint32_t>(i);
    c.docs.push_back(d);
  }
  return c;
}

// Builds the channel and the cross features on `texts` and compares their
// BM25 for every doc each query finds (and 0 for the others).
void expect_one_bm25(const std::vector<std::string>& texts, const std::vector<std::string>& queries) {
  test::TempDir tmp;
  const Corpus corpus = body_only(texts);
  const Bm25Options o;  // the channel's defaults: k1 1, b 0.5, english stemmer, CJK unigrams + bigrams
  build_bm25_index(corpus, tmp.path() / "bm25", o);
  auto channel = open_bm25_channel(tmp.path() / "bm25", o);
  const rank::CrossFeatures features = rank::CrossFeatures::build(corpus, {}, {});
  EXPECT_EQ(features.options().bm25.k1, o.k1);
  EXPECT_EQ(features.options().bm25.b, o.b);
  int compared = 0;
  for (const std::string& query : queries) {
    const auto prepared = features.prepare(query);
    const auto hits = channel->search(query, 100);
    ASSERT_FALSE(hits.empty()) << query;
    for (const auto& h : hits) {
      std::vector<float> f(rank::CrossFeatures::kCount);
      features.compute(prepared, h.row, f.data());
      EXPECT_NEAR(f[rank::CrossFeatures::kBm25Body], h.score, 1e-5 * h.score) << query << " d" << h.row;
      EXPECT_NEAR(f[rank::CrossFeatures::kBm25All], h.score, 1e-5 * h.score) << query << " d" << h.row;
      ++compared;
    }
    // A doc the channel does not find scores 0.
    std::map<std::uint32_t, bool> found;
    for (const auto& h : hits) found[h.row] = true;
    for (std::uint32_t r = 0; r < corpus.docs.size(); ++r)
      if (!found.count(r)) {
        std::vector<float> f(rank::CrossFeatures::kCount);
        features.compute(prepared, r, f.data());
        EXPECT_EQ(f[rank::CrossFeatures::kBm25Body], 0.0f) << query << " d" << r;
      }
  }
  EXPECT_GT(compared, 5);
}

TEST(OneBm25, CrossFeaturesScoreAFieldAsTheChannelScoresIt) {
  expect_one_bm25(kEnglish, {"cat videos", "pasta", "rivers mountains", "cat food", "training dogs"});
}

TEST(OneBm25, AndSoInChineseWhereBothSeeTheSameNgrams) {
  // Queries without a repeated term: the cross features count a query term
  // once, the channel by its query frequency (BM25's k3 factor).
  expect_one_bm25(kChinese, {"佩奇", "红烧肉做法", "转氨酶53", "peppa 佩奇", "ｍｖ"});
}

TEST(OneBm25, TheFormulaAgainstAHandComputation) {
  Bm25Options o;
  // N = 4, df = 1: t = 3.5 / 1.5 >= 2, idf = ln(7/3); df = 2: t = 1 < 2, so t / 2 + 1 = 1.5.
  EXPECT_DOUBLE_EQ(text::bm25_idf(4, 1), std::log(3.5 / 1.5));
  EXPECT_DOUBLE_EQ(text::bm25_idf(4, 2), std::log(1.5));
  EXPECT_GT(text::bm25_idf(4, 4), 0.0);  // a term in every doc keeps a small positive weight
  // tf 2, len 6, avg 3: normlen 2, (1 + 1) * 2 / (1 * (0.5 * 2 + 0.5) + 2) = 4 / 3.5.
  EXPECT_DOUBLE_EQ(text::bm25_tf_part(2, 6, 3, o), 4.0 / 3.5);
  // A short doc is normalised no lower than min_normlen (0.5).
  EXPECT_DOUBLE_EQ(text::bm25_tf_part(1, 0.1, 10, o), 2.0 / (0.5 * 0.5 + 0.5 + 1));
  EXPECT_EQ(text::bm25_tf_part(0, 5, 5, o), 0.0);
}

TEST(Analysis, StemmerFactory) {
  EXPECT_EQ(text::make_stemmer("english", "x")("videos"), "video");
  EXPECT_EQ(text::make_stemmer("none", "x")("videos"), "videos");
  EXPECT_TRUE(test::contains(test::error_of([] { text::make_stemmer("klingon", "cfg"); }),
                             "cfg: field 'stemmer': unknown language 'klingon'"));
}

}  // namespace
}  // namespace funnel
