// The one analyser, script by script, against hand-written term lists.
#include "text/analyzer.h"

#include <gtest/gtest.h>

#include "funnel/error.h"
#include "test_util.h"

namespace funnel::text {
namespace {

using Terms = std::vector<std::string>;

Terms terms(const std::string& s, AnalyzerOptions o = {}) { return Analyzer(std::move(o)).terms(s); }

TEST(Analyzer, EnglishIsFoldedStemmedAndKeepsNumbers) {
  EXPECT_EQ(terms("Running CATS in 2024, at 1.5x speed!"),
            (Terms{"run", "cat", "in", "2024", "at", "1.5x", "speed"}));
  // Apostrophes between letters stay in the word (the stemmer drops 's);
  // the typographic apostrophe is the same as the ASCII one.
  EXPECT_EQ(terms("the patient's doctor’s notes"), (Terms{"the", "patient", "doctor", "note"}));
  // '.' and ',' join digits only; elsewhere they separate.
  EXPECT_EQ(terms("1,000 cells.Then"), (Terms{"1,000", "cell", "then"}));
  // Operators and syntax are separators, never syntax.
  EXPECT_EQ(terms("\"cats\" AND -dogs +(fish) OR NOT birds:*"),
            (Terms{"cat", "and", "dog", "fish", "or", "not", "bird"}));
  EXPECT_EQ(terms("snake_case C++"), (Terms{"snake_cas", "c"}));
}

TEST(Analyzer, LatinScriptsAreNormalisedAndFolded) {
  AnalyzerOptions none;
  none.stemmer = "none";
  // Upper case is folded (ÉTÉ = été), ligatures and full-width forms are
  // expanded by NFKC, and a decomposed é (e + U+0301) is composed.
  EXPECT_EQ(terms("ÉTÉ été e\xCC\x81t\xC3\xA9 ﬁne ＡＢＣ１２３", none), (Terms{"été", "été", "été", "fine", "abc123"}));
  // German sharp s folds to ss; Greek final sigma to sigma.
  EXPECT_EQ(terms("Straße ΟΔΟΣ", none), (Terms{"strasse", "οδοσ"}));
  // Stemming is by language.
  AnalyzerOptions fr;
  fr.stemmer = "french";
  EXPECT_EQ(terms("chanteuses", fr), (Terms{"chanteux"}));
}

TEST(Analyzer, CjkRunsGiveUnigramsAndBigramsInPositionOrder) {
  EXPECT_EQ(terms("转氨酶"), (Terms{"转", "转氨", "氨", "氨酶", "酶"}));
  // A run ends at digits and Latin letters; full-width digits become ASCII.
  EXPECT_EQ(terms("谷丙转氨酶５３偏高"),
            (Terms{"谷", "谷丙", "丙", "丙转", "转", "转氨", "氨", "氨酶", "酶", "53", "偏", "偏高", "高"}));
  EXPECT_EQ(terms("小猪peppa佩奇"), (Terms{"小", "小猪", "猪", "peppa", "佩", "佩奇", "奇"}));
  // CJK punctuation separates runs; the full-width comma is a separator.
  EXPECT_EQ(terms("你好，世界。"), (Terms{"你", "你好", "好", "世", "世界", "界"}));
  // Japanese kana and Korean hangul are CJK runs too.
  EXPECT_EQ(terms("ひらがな"), (Terms{"ひ", "ひら", "ら", "らが", "が", "がな", "な"}));
  EXPECT_EQ(terms("한국어"), (Terms{"한", "한국", "국", "국어", "어"}));
}

TEST(Analyzer, NgramLengthsAreAnOption) {
  AnalyzerOptions bi;
  bi.cjk_ngrams = {2};
  EXPECT_EQ(terms("转氨酶", bi), (Terms{"转氨", "氨酶"}));
  EXPECT_EQ(terms("佩 奇", bi), (Terms{"佩", "奇"}));  // a run shorter than every length stays whole
  AnalyzerOptions tri;
  tri.cjk_ngrams = {1, 3};
  EXPECT_EQ(terms("转氨酶高", tri), (Terms{"转", "转氨酶", "氨", "氨酶高", "酶", "高"}));
  for (auto bad : {std::vector<int>{}, {0}, {5}, {2, 1}, {1, 1}})
    EXPECT_THROW(Analyzer(AnalyzerOptions{"english", bad}, "cfg"), Error);
  EXPECT_TRUE(test::contains(test::error_of([] { Analyzer(AnalyzerOptions{"klingon", {1}}, "cfg"); }),
                             "cfg: field 'stemmer': unknown language 'klingon'"));
}

TEST(Analyzer, PositionsOnePerWordAndPerCharacter) {
  Analyzer a{AnalyzerOptions{}};
  const auto t = a.analyse("red 转氨酶 car", 10);
  std::vector<std::pair<std::string, std::uint32_t>> got;
  for (const auto& x : t) got.emplace_back(x.text, x.pos);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::uint32_t>>{
                     {"red", 10}, {"转", 11}, {"转氨", 11}, {"氨", 12}, {"氨酶", 12}, {"酶", 13}, {"car", 14}}));
}

TEST(Analyzer, CompoundsAreMarkedJoined) {
  Analyzer a{AnalyzerOptions{}};
  std::vector<std::pair<std::string, bool>> got;
  for (const auto& t : a.analyse("x-ray pre-school and/or 3-4 - dash, e.g. 佩奇-peppa"))
    got.emplace_back(t.text, t.joined);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, bool>>{{"x", false},
                                                            {"ray", true},
                                                            {"pre", false},
                                                            {"school", true},
                                                            {"and", false},
                                                            {"or", true},
                                                            {"3", false},
                                                            {"4", true},
                                                            {"dash", false},
                                                            {"e", false},
                                                            {"g", true},
                                                            {"佩", false},
                                                            {"佩奇", false},
                                                            {"奇", false},
                                                            {"peppa", false}}));
}

TEST(Analyzer, EmojiSymbolsAndMarksAlone) {
  EXPECT_EQ(terms("🎸guitar🔥 ♪♫ \xCC\x81\xCC\x81 ___ -- 1️⃣"), (Terms{"guitar", "1"}));
  EXPECT_TRUE(terms("").empty());
  EXPECT_TRUE(terms("  \t\n ").empty());
  // Words over 64 bytes are dropped, as Xapian's TermGenerator drops them.
  EXPECT_EQ(terms(std::string(65, 'a') + " ok"), (Terms{"ok"}));
  EXPECT_EQ(terms(std::string(64, 'b')).size(), 1u);
}

TEST(Analyzer, InvalidUtf8IsRefusedWithTheByte) {
  Analyzer a{AnalyzerOptions{}};
  EXPECT_EQ(test::error_of([&] { a.terms("ok \xC3", "query"); }), "query: invalid UTF-8 at byte 4");
  EXPECT_EQ(test::error_of([&] { a.terms("\xED\xA0\x80", "q"); }), "q: invalid UTF-8 at byte 1");  // a surrogate
  EXPECT_EQ(test::error_of([&] { a.terms("\xC0\xAF", "q"); }), "q: invalid UTF-8 at byte 1");      // overlong '/'
  EXPECT_NO_THROW(a.terms(std::string("a\0b", 3), "q"));  // NUL is valid UTF-8: a separator
  EXPECT_EQ(a.terms(std::string("a\0b", 3), "q"), (Terms{"a", "b"}));
}

}  // namespace
}  // namespace funnel::text
