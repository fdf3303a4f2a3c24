// Rank-stage cross features against values worked out by hand on a four-doc
// corpus; analysis (stemming, word splitting, unknown and empty queries);
// save/load round trips and refusal of damaged files and other corpora.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <set>

#include "funnel/error.h"
#include "rank/cross_features.h"
#include "test_util.h"

namespace funnel::rank {
namespace {
namespace fs = std::filesystem;
using F = CrossFeatures;

constexpr float kTol = 1e-5f;

Corpus make_corpus(const std::vector<Doc>& docs) {
  Corpus c;
  for (const Doc& d : docs) {
    c.row_of[d.id] = static_cast<std::uint32_t>(c.docs.size());
    c.docs.push_back(d);
  }
  return c;
}

// Analysed (english stemmer) words, counted by hand:
//   row  title                      tags                        body                           author
//   0    funni cat video      (3)   [cat] [funni video]   (3)   a cat play with a cat    (6)   alice
//   1    dog train            (2)   [dog]                 (1)   video of dog             (3)   bob
//   2    cook pasta           (2)   -                     (0)   pasta with tomato sauc   (4)   -
//   3    cat food review      (3)   [pet] [cat food]      (3)   -                        (0)   alice
// Mean field lengths: title 10/4 = 2.5, tags 7/4 = 1.75, body 13/4 = 3.25,
// all (title + tags + body: 12, 6, 6, 6) 30/4 = 7.5.
Corpus corpus4() {
  return make_corpus({
      {"d0", "Funny cat videos", "A cat plays with a cat", {"cat", "funny videos"}, "alice", "", {}},
      {"d1", "Dog training", "Videos of dogs", {"dog"}, "bob", "", {}},
      {"d2", "Cooking pasta", "Pasta with tomato sauce", {}, "", "", {}},
      {"d3", "Cat food review", "", {"pets", "cat food"}, "alice", "", {}},
  });
}

// Eight impressions: 3 clicks, so p0 = 3/8 = 0.375. With ctr_prior m = 2,
// a key with c clicks in n impressions has ctr (c + 0.75) / (n + 2).
std::vector<LoggedImpression> logs8() {
  return {
      {"cat videos", 0, true},    // 1
      {"cat videos", 0, true},    // 2
      {"Cat Videos!", 3, false},  // 3: normalises to "cat video" as well
      {"dog", 1, true},           // 4
      {"cat", 3, false},          // 5
      {"cooking", 2, false},      // 6
      {"cat", 0, false},          // 7
      {"kitten pasta", 2, false}, // 8: "kitten" is in no doc
  };
}

CrossFeatureOptions prior2() {
  CrossFeatureOptions o;
  o.ctr_prior = 2;
  return o;
}

std::array<float, F::kCount> features(const CrossFeatures& cf, const std::string& query, std::uint32_t row) {
  std::array<float, F::kCount> out;
  out.fill(-999.f);
  cf.compute(cf.prepare(query), row, out.data());
  return out;
}

// One term's BM25 with the channel's defaults k1 = 1, b = 0.5, min_normlen
// 0.5: idf * (k1 + 1) tf / (k1 (b * max(len / avg, 0.5) + 1 - b) + tf).
double bm25(double idf, double tf, double len, double avg) {
  return idf * 2 * tf / (0.5 * std::max(len / avg, 0.5) + 0.5 + tf);
}
// idf with N = 4: df 1 -> t = 3.5 / 1.5 >= 2, ln(7/3); df 2 -> t = 2.5 / 2.5 = 1
// is below 2, so t / 2 + 1 = 1.5 and ln 1.5.
const double kIdf1 = std::log(7.0 / 3.0);
const double kIdf2 = std::log(1.5);

// ctr - p0 for c clicks in n impressions (m = 2, p0 = 0.375).
double centred(double c, double n) { return (c + 0.75) / (n + 2) - 0.375; }

void expect_error_naming(const std::function<void()>& fn, const std::string& path, const std::string& what) {
  try {
    fn();
    ADD_FAILURE() << "no funnel::Error (expected one about '" << what << "')";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(CrossFeatures, NamesAreStableAndDistinct) {
  const auto& n = F::names();
  EXPECT_EQ(n[F::kBm25Title], "bm25_title");
  EXPECT_EQ(n[F::kBm25All], "bm25_all");
  EXPECT_EQ(n[F::kPairCoverTitleTags], "pair_cover_title_tags");
  EXPECT_EQ(n[F::kPhraseInTitle], "phrase_in_title");
  EXPECT_EQ(n[F::kClickPair], "click_pair");
  EXPECT_EQ(n[F::kDocImpressions], "doc_impressions");
  EXPECT_EQ(n[F::kAuthorCtr], "author_ctr");
  EXPECT_EQ(n.size(), 17u);
  EXPECT_EQ(std::set<std::string>(n.begin(), n.end()).size(), F::kCount);
}

TEST(CrossFeatures, TextFeaturesMatchHandComputation) {
  const CrossFeatures cf = CrossFeatures::build(corpus4(), {}, {});
  EXPECT_FALSE(cf.has_click_stats());
  // Query "cat videos" -> [cat, video].
  // df: title cat 2 (d0, d3), video 1 (d0); tags cat 2, video 1;
  //     body cat 1 (d0), video 1 (d1); all cat 2 (d0, d3), video 2 (d0, d1).
  auto f0 = features(cf, "cat videos", 0);
  // d0 title: cat tf 1, video tf 1, len 3. One value written out:
  // ln 1.5 * 2 / (0.5 * 3 / 2.5 + 0.5 + 1) = 0.405465 * 2 / 2.1 = 0.386157.
  EXPECT_NEAR(bm25(kIdf2, 1, 3, 2.5), 0.386157, 1e-6);
  EXPECT_NEAR(f0[F::kBm25Title], bm25(kIdf2, 1, 3, 2.5) + bm25(kIdf1, 1, 3, 2.5), kTol);
  // tags: cat 1, video 1 (inside "funny videos"), len 3.
  EXPECT_NEAR(f0[F::kBm25Tags], bm25(kIdf2, 1, 3, 1.75) + bm25(kIdf1, 1, 3, 1.75), kTol);
  // body: cat tf 2, no video, len 6.
  EXPECT_NEAR(f0[F::kBm25Body], bm25(kIdf1, 2, 6, 3.25), kTol);
  // all: cat tf 1 + 1 + 2 = 4, video tf 1 + 1 = 2, len 12.
  EXPECT_NEAR(f0[F::kBm25All], bm25(kIdf2, 4, 12, 7.5) + bm25(kIdf2, 2, 12, 7.5), kTol);
  EXPECT_FLOAT_EQ(f0[F::kTermCoverTitleTags], 1.0f);  // cat, video both in the title
  EXPECT_FLOAT_EQ(f0[F::kTermCoverBody], 0.5f);       // cat only
  EXPECT_FLOAT_EQ(f0[F::kPairCoverTitleTags], 1.0f);  // (cat, video) adjacent in the title
  EXPECT_FLOAT_EQ(f0[F::kPhraseInTitle], 1.0f);
  EXPECT_NEAR(f0[F::kQueryLen], std::log(3.0), kTol);  // 2 terms
  EXPECT_NEAR(f0[F::kTitleLen], std::log(4.0), kTol);  // 3 words
  EXPECT_NEAR(f0[F::kBodyLen], std::log(7.0), kTol);   // 6 words
  for (std::size_t i = F::kClickPair; i < F::kCount; ++i) EXPECT_EQ(f0[i], 0.f) << F::names()[i];

  // d1: video only in the body (tf 1, len 3); all: tf 1, len 6.
  auto f1 = features(cf, "cat videos", 1);
  EXPECT_EQ(f1[F::kBm25Title], 0.f);
  EXPECT_EQ(f1[F::kBm25Tags], 0.f);
  EXPECT_NEAR(f1[F::kBm25Body], bm25(kIdf1, 1, 3, 3.25), kTol);
  EXPECT_NEAR(f1[F::kBm25All], bm25(kIdf2, 1, 6, 7.5), kTol);
  EXPECT_EQ(f1[F::kTermCoverTitleTags], 0.f);
  EXPECT_FLOAT_EQ(f1[F::kTermCoverBody], 0.5f);
  EXPECT_EQ(f1[F::kPairCoverTitleTags], 0.f);
  EXPECT_EQ(f1[F::kPhraseInTitle], 0.f);
  EXPECT_NEAR(f1[F::kTitleLen], std::log(3.0), kTol);
  EXPECT_NEAR(f1[F::kBodyLen], std::log(4.0), kTol);

  // d2: nothing matches.
  auto f2 = features(cf, "cat videos", 2);
  for (std::size_t i = 0; i <= F::kPhraseInTitle; ++i) EXPECT_EQ(f2[i], 0.f) << F::names()[i];

  // d3: cat in title (len 3) and tags (len 3), empty body; all: cat tf 2, len 6.
  auto f3 = features(cf, "cat videos", 3);
  EXPECT_NEAR(f3[F::kBm25Title], bm25(kIdf2, 1, 3, 2.5), kTol);
  EXPECT_NEAR(f3[F::kBm25Tags], bm25(kIdf2, 1, 3, 1.75), kTol);
  EXPECT_EQ(f3[F::kBm25Body], 0.f);
  EXPECT_NEAR(f3[F::kBm25All], bm25(kIdf2, 2, 6, 7.5), kTol);
  EXPECT_FLOAT_EQ(f3[F::kTermCoverTitleTags], 0.5f);
  EXPECT_EQ(f3[F::kTermCoverBody], 0.f);
  EXPECT_EQ(f3[F::kPairCoverTitleTags], 0.f);  // (cat, video) nowhere
  EXPECT_EQ(f3[F::kBodyLen], 0.f);             // ln(1 + 0)

  // "pets" is only in d3's tags (tags df 1, tf 1, len 3; all df 1, tf 1, len 6).
  auto p3 = features(cf, "pets", 3);
  EXPECT_EQ(p3[F::kBm25Title], 0.f);
  EXPECT_NEAR(p3[F::kBm25Tags], bm25(kIdf1, 1, 3, 1.75), kTol);
  EXPECT_NEAR(p3[F::kBm25All], bm25(kIdf1, 1, 6, 7.5), kTol);
  EXPECT_FLOAT_EQ(p3[F::kTermCoverTitleTags], 1.0f);
  EXPECT_FLOAT_EQ(p3[F::kPairCoverTitleTags], 1.0f);  // one term: = term coverage
  EXPECT_EQ(p3[F::kPhraseInTitle], 0.f);
}

TEST(CrossFeatures, RepeatedQueryTermsCountOnceInBm25) {
  const CrossFeatures cf = CrossFeatures::build(corpus4(), {}, {});
  auto once = features(cf, "cat videos", 0);
  auto twice = features(cf, "cat cat videos", 0);
  for (std::size_t i = F::kBm25Title; i <= F::kTermCoverBody; ++i) EXPECT_EQ(once[i], twice[i]) << F::names()[i];
  EXPECT_NEAR(twice[F::kQueryLen], std::log(4.0), kTol);  // 3 terms, repetition included
  EXPECT_EQ(twice[F::kPhraseInTitle], 0.f);               // "cat cat video" is not in the title
}

TEST(CrossFeatures, PairsNeverCrossTagBoundaries) {
  const CrossFeatures cf = CrossFeatures::build(corpus4(), {}, {});
  // d0 tags [cat] [funny videos]: (funni, video) is inside a tag, (cat, funni)
  // would only be adjacent across the boundary; the title has (funni, cat)
  // and (cat, video).
  EXPECT_FLOAT_EQ(features(cf, "funny videos", 0)[F::kPairCoverTitleTags], 1.0f);
  EXPECT_EQ(features(cf, "cat funny", 0)[F::kPairCoverTitleTags], 0.f);
  EXPECT_FLOAT_EQ(features(cf, "cat funny", 0)[F::kTermCoverTitleTags], 1.0f);
  // d3 tags [pet] [cat food]: (cat, food) in a tag, (pet, cat) across.
  EXPECT_FLOAT_EQ(features(cf, "pets cat food", 3)[F::kPairCoverTitleTags], 0.5f);
  // "funny videos" is in a tag but the title phrase test looks at the title only:
  // title "funni cat video" has no contiguous "funni video".
  EXPECT_EQ(features(cf, "funny videos", 0)[F::kPhraseInTitle], 0.f);
  EXPECT_FLOAT_EQ(features(cf, "funny cat", 0)[F::kPhraseInTitle], 1.0f);
  // A one-term query: pair coverage is term coverage.
  EXPECT_FLOAT_EQ(features(cf, "cat", 3)[F::kPairCoverTitleTags], 1.0f);
  EXPECT_EQ(features(cf, "cat", 1)[F::kPairCoverTitleTags], 0.f);
  EXPECT_FLOAT_EQ(features(cf, "pasta", 2)[F::kPairCoverTitleTags], 1.0f);
}

TEST(CrossFeatures, StemmingFollowsTheOption) {
  const Corpus c = corpus4();
  const CrossFeatures english = CrossFeatures::build(c, {}, {});
  CrossFeatureOptions o;
  o.bm25.stemmer = "none";
  const CrossFeatures none = CrossFeatures::build(c, {}, o);
  // d0 title "Funny cat videos".
  EXPECT_GT(features(english, "video", 0)[F::kBm25Title], 0.f);
  EXPECT_FLOAT_EQ(features(english, "video", 0)[F::kTermCoverTitleTags], 1.0f);
  EXPECT_EQ(features(none, "video", 0)[F::kBm25Title], 0.f);
  EXPECT_EQ(features(none, "video", 0)[F::kTermCoverTitleTags], 0.f);
  EXPECT_GT(features(none, "videos", 0)[F::kBm25Title], 0.f);
  EXPECT_EQ(english.prepare("Videos").terms, std::vector<std::string>{"video"});
  EXPECT_EQ(none.prepare("Videos").terms, std::vector<std::string>{"videos"});
}

TEST(CrossFeatures, AnalyseWithTheOneAnalyser) {
  CrossFeatureOptions o;
  o.bm25.stemmer = "none";
  const CrossFeatures cf = CrossFeatures::build(corpus4(), {}, o);
  // text::Analyzer's terms: folded, NFKC, '_' inside words, CJK n-grams.
  const auto p = cf.prepare("  C++ naïve-Bayes_x2 ÉTÉ!! 转氨酶５３");
  EXPECT_EQ(p.terms, (std::vector<std::string>{"c", "naïve", "bayes_x2", "été", "转", "转氨", "氨", "氨酶", "酶", "53"}));
  EXPECT_EQ(p.normalised, "c naïve bayes_x2 été 转 转氨 氨 氨酶 酶 53");
  EXPECT_TRUE(test::contains(test::error_of([&] { cf.prepare("bad \xFF"); }), "invalid UTF-8 at byte 5"));
}

TEST(CrossFeatures, UnknownQueryWordsCountInDenominators) {
  const CrossFeatures cf = CrossFeatures::build(corpus4(), {}, {});
  auto known = features(cf, "cat", 0);
  // zebra and giraffe are in no doc: they add nothing to BM25 but each
  // counts as a distinct term that is not covered.
  auto f = features(cf, "cat zebra giraffe", 0);
  EXPECT_EQ(f[F::kBm25Title], known[F::kBm25Title]);
  EXPECT_EQ(f[F::kBm25All], known[F::kBm25All]);
  EXPECT_NEAR(f[F::kTermCoverTitleTags], 1.0 / 3, kTol);
  EXPECT_NEAR(f[F::kTermCoverBody], 1.0 / 3, kTol);
  EXPECT_EQ(f[F::kPairCoverTitleTags], 0.f);  // (cat, zebra), (zebra, giraffe)
  EXPECT_EQ(f[F::kPhraseInTitle], 0.f);
  EXPECT_NEAR(f[F::kQueryLen], std::log(4.0), kTol);
  const auto p = cf.prepare("zebra giraffe zebra");
  EXPECT_EQ(p.distinct.size(), 2u);
  EXPECT_EQ(p.sequence.size(), 3u);
  EXPECT_EQ(p.sequence[0], p.sequence[2]);
  EXPECT_NE(p.sequence[0], p.sequence[1]);
  auto g = features(cf, "zebra giraffe zebra", 0);
  for (std::size_t i = 0; i <= F::kPhraseInTitle; ++i) EXPECT_EQ(g[i], 0.f) << F::names()[i];
}

TEST(CrossFeatures, QueryWithoutTerms) {
  const CrossFeatures cf = CrossFeatures::build(corpus4(), logs8(), prior2());
  const auto p = cf.prepare("!!! ...");
  EXPECT_TRUE(p.terms.empty());
  EXPECT_EQ(p.normalised, "");
  auto f = features(cf, "!!! ...", 0);
  for (std::size_t i = 0; i <= F::kQueryLen; ++i) EXPECT_EQ(f[i], 0.f) << F::names()[i];
  EXPECT_NEAR(f[F::kTitleLen], std::log(4.0), kTol);
  EXPECT_EQ(f[F::kClickPair], 0.f);
  EXPECT_EQ(f[F::kClickTermDoc], 0.f);
  EXPECT_EQ(f[F::kClickTermAuthor], 0.f);
  EXPECT_NEAR(f[F::kDocCtr], centred(2, 3), kTol);  // doc evidence does not depend on the query
}

TEST(CrossFeatures, ClickFeaturesMatchHandComputation) {
  const CrossFeatures cf = CrossFeatures::build(corpus4(), logs8(), prior2());
  EXPECT_TRUE(cf.has_click_stats());
  // Keys for query "cat videos" (normalised "cat video"; impressions 1, 2, 3):
  // pair (q, d0): imps 1, 2 -> 2 clicks of 2: (2 + 0.75) / 4 - 0.375 = 0.3125.
  EXPECT_NEAR(centred(2, 2), 0.3125, 1e-12);
  auto f0 = features(cf, "cat videos", 0);
  EXPECT_NEAR(f0[F::kClickPair], 0.3125, kTol);
  // (cat, d0): imps 1, 2, 7 -> 2 of 3 -> 0.175; (video, d0): 2 of 2 -> 0.3125.
  EXPECT_NEAR(f0[F::kClickTermDoc], (centred(2, 3) + centred(2, 2)) / 2, kTol);
  EXPECT_NEAR(f0[F::kClickTermDoc], (0.175 + 0.3125) / 2, kTol);
  // alice has d0 and d3: (cat, alice) imps 1, 2, 3, 5, 7 -> 2 of 5;
  // (video, alice) imps 1, 2, 3 -> 2 of 3.
  const double cat_video_alice = (centred(2, 5) + centred(2, 3)) / 2;
  EXPECT_NEAR(f0[F::kClickTermAuthor], cat_video_alice, kTol);
  EXPECT_NEAR(f0[F::kDocCtr], centred(2, 3), kTol);  // imps 1, 2, 7
  EXPECT_NEAR(f0[F::kDocImpressions], std::log(4.0), kTol);
  EXPECT_NEAR(f0[F::kAuthorCtr], centred(2, 5), kTol);  // alice: 1, 2, 3, 5, 7

  // d3: pair 0 of 1 (imp 3); (cat, d3) 0 of 2 (3, 5); (video, d3) 0 of 1 (3).
  auto f3 = features(cf, "cat videos", 3);
  EXPECT_NEAR(f3[F::kClickPair], centred(0, 1), kTol);
  EXPECT_NEAR(f3[F::kClickPair], -0.125, kTol);
  EXPECT_NEAR(f3[F::kClickTermDoc], (centred(0, 2) + centred(0, 1)) / 2, kTol);
  EXPECT_NEAR(f3[F::kClickTermAuthor], cat_video_alice, kTol);
  EXPECT_NEAR(f3[F::kDocCtr], centred(0, 2), kTol);
  EXPECT_NEAR(f3[F::kDocImpressions], std::log(3.0), kTol);
  EXPECT_NEAR(f3[F::kAuthorCtr], centred(2, 5), kTol);

  // d1 (bob): no key of this query; doc and author 1 click of 1 (imp 4).
  auto f1 = features(cf, "cat videos", 1);
  EXPECT_EQ(f1[F::kClickPair], 0.f);
  EXPECT_EQ(f1[F::kClickTermDoc], 0.f);
  EXPECT_EQ(f1[F::kClickTermAuthor], 0.f);
  EXPECT_NEAR(f1[F::kDocCtr], centred(1, 1), kTol);
  EXPECT_NEAR(f1[F::kAuthorCtr], centred(1, 1), kTol);
  EXPECT_NEAR(f1[F::kDocImpressions], std::log(2.0), kTol);

  // d2 has no author: the author features are 0 whatever the logs say.
  // Query "kitten pasta" (imp 8): kitten is a log-only term.
  auto f2 = features(cf, "kitten pasta", 2);
  EXPECT_NEAR(f2[F::kClickPair], centred(0, 1), kTol);
  EXPECT_NEAR(f2[F::kClickTermDoc], (centred(0, 1) + centred(0, 1)) / 2, kTol);
  EXPECT_EQ(f2[F::kClickTermAuthor], 0.f);
  EXPECT_EQ(f2[F::kAuthorCtr], 0.f);
  EXPECT_NEAR(f2[F::kDocCtr], centred(0, 2), kTol);  // imps 6, 8
  EXPECT_NEAR(f2[F::kTermCoverTitleTags], 0.5, kTol);
  // "kitten" alone: no logged query normalises to "kitten", but (kitten, d2) was seen.
  auto k2 = features(cf, "Kittens", 2);
  EXPECT_EQ(k2[F::kClickPair], 0.f);
  EXPECT_NEAR(k2[F::kClickTermDoc], centred(0, 1), kTol);

  // "cats" normalises to "cat": pair (cat, d0) is imp 7, 0 of 1.
  EXPECT_NEAR(features(cf, "Cats", 0)[F::kClickPair], centred(0, 1), kTol);
  // A query with no logged key at all gives 0 for the query-keyed features.
  auto z = features(cf, "zebra", 0);
  EXPECT_EQ(z[F::kClickPair], 0.f);
  EXPECT_EQ(z[F::kClickTermDoc], 0.f);
  EXPECT_EQ(z[F::kClickTermAuthor], 0.f);
}

TEST(CrossFeatures, RejectsBadInput) {
  const Corpus c = corpus4();
  EXPECT_THROW(CrossFeatures::build(c, {{"cat", 4, true}}, {}), Error);
  CrossFeatureOptions o;
  o.bm25.stemmer = "klingon";
  EXPECT_THROW(CrossFeatures::build(c, {}, o), Error);
  o = {};
  o.bm25.k1 = -1;
  EXPECT_THROW(CrossFeatures::build(c, {}, o), Error);
  o = {};
  o.bm25.b = 1.5;
  EXPECT_THROW(CrossFeatures::build(c, {}, o), Error);
  const CrossFeatures cf = CrossFeatures::build(c, {}, {});
  float out[F::kCount];
  EXPECT_THROW(cf.compute(cf.prepare("cat"), 4, out), Error);
}

void expect_same_features(const CrossFeatures& a, const CrossFeatures& b) {
  for (const char* q : {"cat videos", "Cat Videos!", "kitten pasta", "dog", "zebra cat", "!!!", "funny cat"})
    for (std::uint32_t row = 0; row < 4; ++row) {
      auto fa = features(a, q, row), fb = features(b, q, row);
      for (std::size_t i = 0; i < F::kCount; ++i) EXPECT_EQ(fa[i], fb[i]) << q << " row " << row << " " << F::names()[i];
    }
}

TEST(CrossFeatures, SaveLoadRoundTrip) {
  test::TempDir tmp;
  const Corpus c = corpus4();
  CrossFeatureOptions o = prior2();
  o.bm25.k1 = 0.9;
  o.bm25.b = 0.6;
  const CrossFeatures built = CrossFeatures::build(c, logs8(), o);
  const fs::path path = tmp.path() / "cross.bin";
  built.save(path);
  const CrossFeatures loaded = CrossFeatures::load(path, c);
  EXPECT_EQ(loaded.options().bm25.k1, 0.9);
  EXPECT_EQ(loaded.options().bm25.b, 0.6);
  EXPECT_EQ(loaded.options().ctr_prior, 2);
  EXPECT_EQ(loaded.options().bm25.stemmer, "english");
  EXPECT_TRUE(loaded.has_click_stats());
  expect_same_features(built, loaded);
  // The file depends on the statistics alone.
  loaded.save(tmp.path() / "again.bin");
  EXPECT_EQ(test::read_file(path), test::read_file(tmp.path() / "again.bin"));

  // Without logs as well.
  const CrossFeatures plain = CrossFeatures::build(c, {}, {});
  plain.save(tmp.path() / "plain.bin");
  const CrossFeatures plain2 = CrossFeatures::load(tmp.path() / "plain.bin", c);
  EXPECT_FALSE(plain2.has_click_stats());
  expect_same_features(plain, plain2);
}

TEST(CrossFeatures, LoadRejectsDamagedFilesAndOtherCorpora) {
  test::TempDir tmp;
  const Corpus c = corpus4();
  const fs::path path = tmp.path() / "cross.bin";
  CrossFeatures::build(c, logs8(), prior2()).save(path);
  const std::string bytes = test::read_file(path);
  ASSERT_GT(bytes.size(), 100u);

  // Every truncation, from an empty file to one byte short.
  const fs::path cut = tmp.path() / "cut.bin";
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    test::write_file(cut, bytes.substr(0, n));
    expect_error_naming([&] { CrossFeatures::load(cut, c); }, cut.string(), n < 5 ? "magic" : "");
  }
  const fs::path bad = tmp.path() / "bad.bin";
  test::write_file(bad, bytes.substr(0, bytes.size() - 1));
  expect_error_naming([&] { CrossFeatures::load(bad, c); }, bad.string(), "truncated");
  test::write_file(bad, bytes + "x");
  expect_error_naming([&] { CrossFeatures::load(bad, c); }, bad.string(), "after the checksum");
  std::string edited = bytes;
  edited[0] = 'X';
  test::write_file(bad, edited);
  expect_error_naming([&] { CrossFeatures::load(bad, c); }, bad.string(), "magic");
  edited = bytes;
  edited[5] = 2;  // version 2: the analysis before text::Analyzer
  test::write_file(bad, edited);
  expect_error_naming([&] { CrossFeatures::load(bad, c); }, bad.string(), "version 2");
  expect_error_naming([&] { CrossFeatures::load(bad, c); }, bad.string(), "retrain the ranker");
  edited[5] = 4;  // a version from the future
  test::write_file(bad, edited);
  expect_error_naming([&] { CrossFeatures::load(bad, c); }, bad.string(), "version 4");
  // Every single-byte edit after the version is caught (structure or checksum).
  for (std::size_t i = 9; i < bytes.size(); ++i) {
    edited = bytes;
    edited[i] = static_cast<char>(edited[i] ^ 0x5a);
    test::write_file(bad, edited);
    expect_error_naming([&] { CrossFeatures::load(bad, c); }, bad.string(), "");
  }
  expect_error_naming([&] { CrossFeatures::load(tmp.path() / "missing.bin", c); },
                      (tmp.path() / "missing.bin").string(), "cannot open");

  // Another corpus: one doc fewer, or the same size with another doc.
  Corpus smaller = c;
  smaller.docs.pop_back();
  expect_error_naming([&] { CrossFeatures::load(path, smaller); }, path.string(), "corpus of 4 docs");
  Corpus other = c;
  other.docs[3].id = "d3-renamed";
  expect_error_naming([&] { CrossFeatures::load(path, other); }, path.string(), "another corpus");
  EXPECT_NO_THROW(CrossFeatures::load(path, c));
}

}  // namespace
}  // namespace funnel::rank
