// The query builder: what Xapian query the analyser's terms become.
#include "text/xapian_query.h"

#include <gtest/gtest.h>

namespace funnel::text {
namespace {

std::string built(const std::string& q, double boost = 0) {
  Analyzer a{AnalyzerOptions{}};
  return build_query(a.analyse(q, 1), boost).get_description();
}

TEST(XapianQuery, OneLeafPerOccurrenceAndCompoundsAsPhrases) {
  EXPECT_EQ(built("cats cat"), "Query((cat OR cat))");
  EXPECT_EQ(built("x-ray films"), "Query(((x PHRASE 2 ray) OR film))");
  EXPECT_EQ(built("佩奇"), "Query((佩 OR 佩奇 OR 奇))");
  // Operators are plain text: nothing here is syntax.
  EXPECT_EQ(built("NOT \"cats\" AND"), "Query((not OR cat OR and))");
  EXPECT_TRUE(build_query({}).empty());
  EXPECT_TRUE(build_query(Analyzer{AnalyzerOptions{}}.analyse("!!! ...")).empty());
}

TEST(XapianQuery, PhraseBoostAddsTheWholeQueryAsAPhrase) {
  EXPECT_EQ(built("guitar lessons", 0.5), "Query(((guitar OR lesson) AND_MAYBE 0.5 * (guitar PHRASE 2 lesson)))");
  // At each position its first term: the unigram of a CJK character.
  EXPECT_EQ(built("佩奇", 2), "Query(((佩 OR 佩奇 OR 奇) AND_MAYBE 2 * (佩 PHRASE 2 奇)))");
  EXPECT_EQ(built("guitar", 0.5), "Query(guitar)");  // one position: no phrase
}

}  // namespace
}  // namespace funnel::text
