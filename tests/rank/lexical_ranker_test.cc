// The LambdaMART ranker's feature rows: each column holds what its name says
// (the BM25 channel's scores, the lexical functions of lexical_features.h
// on the doc's terms, the cross features), so that a column shift or a
// mismatch between training and serving shows up here.
#include "rank/lexical_ranker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "rank/cross_features.h"
#include "rank/lexical_features.h"
#include "test_util.h"
#include "text/analysis.h"

namespace funnel::rank {
namespace {
namespace fs = std::filesystem;

std::shared_ptr<Corpus> corpus() {
  auto c = std::make_shared<Corpus>();
  auto add = [&](const std::string& id, const std::string& title, const std::string& text) {
    Doc d;
    d.id = id;
    d.title = title;
    d.text = text;
    c->row_of[id] = static_cast<std::uint32_t>(c->docs.size());
    c->docs.push_back(d);
  };
  add("a", "guitar amp", "a small guitar amp with distortion");
  add("b", "amp repair", "how to repair a tube amp for a guitar");
  add("c", "distortion pedal", "fuzz and distortion");
  for (int i = 0; i < 20; ++i) add("f" + std::to_string(i), "pasta recipe", "tomato sauce and basil");
  return c;
}

std::size_t column(const std::string& name) {
  const auto& n = LexicalFeatureSet::names();
  return static_cast<std::size_t>(std::find(n.begin(), n.end(), name) - n.begin());
}

TEST(LexicalRanker, ColumnsHoldWhatTheirNamesSay) {
  test::TempDir tmp;
  const auto c = corpus();
  build_bm25_index(*c, tmp.path() / "bm25", Bm25Options{});
  const LexicalFeatureSet f(tmp.path() / "bm25", Bm25Options{}, c);
  const auto& names = LexicalFeatureSet::names();
  ASSERT_EQ(names.size(), 22u);
  const std::string q = "guitar amp";
  const auto rows = f.candidates(q, 10);
  // BM25's hits first (a, b), then RM3's others ("distortion" brings c).
  ASSERT_GE(rows.size(), 3u);
  EXPECT_EQ(rows[0], 0u);
  EXPECT_EQ(rows[1], 1u);
  EXPECT_TRUE(std::find(rows.begin(), rows.end(), 2u) != rows.end());
  std::vector<float> x, bm25;
  f.compute(q, rows, x, bm25);
  ASSERT_EQ(x.size(), rows.size() * names.size());
  const auto plain = open_bm25_channel(tmp.path() / "bm25", Bm25Options{})->score_rows(q, rows);
  text::Analyzer a(text::analyzer_options(Bm25Options{}));
  const std::vector<std::string> qt = a.terms(q);
  float best = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) best = std::max(best, static_cast<float>(plain[i]));
  const auto at = [&](std::size_t i, const std::string& n) { return x[i * names.size() + column(n)]; };
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Doc& d = c->docs[rows[i]];
    EXPECT_EQ(at(i, "bm25"), static_cast<float>(plain[i])) << d.id;
    EXPECT_EQ(bm25[i], static_cast<float>(plain[i])) << d.id;
    EXPECT_FLOAT_EQ(at(i, "bm25_rel"), static_cast<float>(plain[i]) / best) << d.id;
    // Title at 1.., the body 100 positions after the title's last term.
    std::vector<text::Term> terms = a.analyse(d.title, 1);
    const auto body = a.analyse(d.text, terms.back().pos + 100);
    terms.insert(terms.end(), body.begin(), body.end());
    const float wu = at(i, "window_unordered"), wo = at(i, "window_ordered");
    const double eu = min_window_unordered(terms, qt), eo = min_window_ordered(terms, qt);
    EXPECT_TRUE(std::isnan(eu) ? std::isnan(wu) : wu == static_cast<float>(eu)) << d.id;
    EXPECT_TRUE(std::isnan(eo) ? std::isnan(wo) : wo == static_cast<float>(eo)) << d.id;
    EXPECT_FLOAT_EQ(at(i, "doc_length"), static_cast<float>(std::log1p(static_cast<double>(terms.size())))) << d.id;
  }
  // "guitar amp" is the title of a: both terms next to each other, in order.
  EXPECT_EQ(at(0, "window_unordered"), 2.0f);
  EXPECT_EQ(at(0, "window_ordered"), 2.0f);
  // b: amp@1 repair@2 | how@102 to repair a tube amp@107 for a guitar@110.
  // Unordered: amp@107 .. guitar@110 (4); ordered: no "amp" after "guitar".
  EXPECT_EQ(at(1, "window_unordered"), 4.0f);
  EXPECT_TRUE(std::isnan(at(1, "window_ordered")));
  // c holds no query term: no window, BM25 0, RM3 agreement from "distortion".
  const std::size_t ci = static_cast<std::size_t>(std::find(rows.begin(), rows.end(), 2u) - rows.begin());
  EXPECT_TRUE(std::isnan(at(ci, "window_unordered")));
  EXPECT_EQ(at(ci, "bm25"), 0.0f);
  EXPECT_GT(at(ci, "bm25_prf"), 0.0f);
  EXPECT_GT(at(ci, "prf_agreement"), 0.0f);
  EXPECT_LT(at(ci, "prf_agreement"), at(0, "prf_agreement"));
  // Query-level features are the same on every row; the cross features are
  // CrossFeatures::compute's.
  CrossFeatureOptions co;
  const auto cross = CrossFeatures::build(*c, {}, co);
  const auto prepared = cross.prepare(q);
  std::vector<float> cf(CrossFeatures::kCount);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(at(i, "idf_sum"), at(0, "idf_sum"));
    EXPECT_EQ(at(i, "idf_rare_share"), at(0, "idf_rare_share"));
    cross.compute(prepared, rows[i], cf.data());
    EXPECT_EQ(at(i, "bm25_title"), cf[CrossFeatures::kBm25Title]);
    EXPECT_EQ(at(i, "body_len"), cf[CrossFeatures::kBodyLen]);
  }
  // guitar: 2 of 23 docs, amp: 2 of 23; rare means df <= max(1, 23 / 100) = 1.
  const auto idf = query_idf_stats({2, 2}, 23);
  EXPECT_FLOAT_EQ(at(0, "idf_sum"), static_cast<float>(idf.sum));
  EXPECT_EQ(at(0, "idf_rare_share"), 0.0f);
}

TEST(LexicalRanker, RefusesAnIndexOfAnotherCorpus) {
  test::TempDir tmp;
  const auto c = corpus();
  build_bm25_index(*c, tmp.path() / "bm25", Bm25Options{});
  auto smaller = std::make_shared<Corpus>(*c);
  smaller->docs.pop_back();
  EXPECT_TRUE(test::contains(test::error_of([&] { LexicalFeatureSet(tmp.path() / "bm25", Bm25Options{}, smaller); }),
                             "holds 23 docs, the corpus 22"));
}

}  // namespace
}  // namespace funnel::rank
