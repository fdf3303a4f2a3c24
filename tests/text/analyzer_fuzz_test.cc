// Fuzzing the analyser and search with random text: CJK, Latin, digits,
// emoji, combining marks, query-operator characters, full-width forms,
// invalid bytes and very long input. Every input must end in either terms /
// a response, or a funnel::Error saying the UTF-8 is invalid; nothing else may
// escape, nothing may crash, and no query may hang (a watchdog bound per
// query, far above the normal time, which only a hang would hit). Fixed seeds,
// bounded in count: the same inputs on every run.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "test_util.h"
#include "text/analyzer.h"

namespace funnel {
namespace {

using Clock = std::chrono::steady_clock;

// Pieces random text is made of, each valid UTF-8 on its own.
const std::vector<std::string> kPieces = {
    "佩", "奇", "转", "氨", "酶", "小", "猪", "的", "做", "法", "ひ", "カ", "한", "〇", "々", "，", "。", "《", "》",
    "a", "B", "x", "Ü", "é", "ß", "ﬁ", "Ω", "ж", "ا", "א", "ก", "0", "7", "42", "３", "Ａ", "ｚ", "½", "²",
    "🎸", "🔥", "👩‍👩‍👧", "1️⃣", "🇨🇳", "\xCC\x81", "\xE2\x83\xA3", "\xE2\x80\x8D", "\xEF\xB8\x8F",
    "\"", "'", "(", ")", "+", "-", "*", ":", "~", "^", "&", "|", "!", "{", "}", "[", "]", "<", ">", "=", "/",
    "\\", "AND", "OR", "NOT", "NEAR", "XOR", " ", "  ", "\t", "\n", ".", ",", "_", "@", "#", "$", "%", "\0"};

std::string random_text(std::mt19937& rng, std::size_t pieces, bool allow_invalid) {
  std::string s;
  std::uniform_int_distribution<std::size_t> pick(0, kPieces.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255), percent(0, 99);
  for (std::size_t i = 0; i < pieces; ++i) {
    if (allow_invalid && percent(rng) < 2) {
      s += static_cast<char>(byte(rng));  // possibly a lone continuation or lead byte
    } else {
      const std::string& p = kPieces[pick(rng)];
      s += p.empty() ? std::string(1, '\0') : p;
    }
  }
  return s;
}

bool valid_utf8(const std::string& s) {
  try {
    text::check_utf8(s, "x");
    return true;
  } catch (const Error&) {
    return false;
  }
}

constexpr double kHangSeconds = 10;

TEST(AnalyzerFuzz, RandomTextGivesTermsOrAClearUtf8Error) {
  std::mt19937 rng(12345);
  text::Analyzer analyzer{text::AnalyzerOptions{}};
  std::size_t refused = 0, n_terms = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::size_t pieces = i % 100 == 0 ? 10000 : 1 + static_cast<std::size_t>(rng() % 60);
    const std::string s = random_text(rng, pieces, i % 2 == 1);
    const auto t0 = Clock::now();
    try {
      const auto terms = analyzer.analyse(s, 0, "fuzz");
      n_terms += terms.size();
      EXPECT_TRUE(valid_utf8(s)) << "input " << i << " is invalid UTF-8 but was analysed";
      for (const auto& t : terms) {
        ASSERT_FALSE(t.text.empty()) << "input " << i;
        ASSERT_LE(t.text.size(), text::kMaxTermBytes) << "input " << i;
        ASSERT_TRUE(valid_utf8(t.text)) << "input " << i << " gave a term that is not UTF-8";
      }
    } catch (const Error& e) {
      ++refused;
      EXPECT_FALSE(valid_utf8(s)) << "input " << i << ": " << e.what();
      EXPECT_TRUE(test::contains(e.what(), "fuzz: invalid UTF-8 at byte ")) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "input " << i << ": escaped " << typeid(e).name() << ": " << e.what();
    }
    const double s_taken = std::chrono::duration<double>(Clock::now() - t0).count();
    ASSERT_LT(s_taken, kHangSeconds) << "input " << i << " of " << s.size() << " bytes looks like a hang";
  }
  std::printf("  3000 inputs: %zu refused as invalid UTF-8, %zu terms from the others\n", refused, n_terms);
  EXPECT_GT(refused, 100u);  // the fuzzer does produce invalid input
  EXPECT_GT(n_terms, 10000u);
}

TEST(SearchFuzz, RandomQueriesGetAnAnswerOrAClearError) {
  // A small mixed-script corpus, so that random queries match something.
  std::mt19937 rng(777);
  Corpus c;
  for (int i = 0; i < 300; ++i) {
    Doc d;
    d.id = "d" + std::to_string(i);
    d.title = random_text(rng, 8, false);
    d.text = random_text(rng, 40, false);
    c.row_of[d.id] = static_cast<std::uint32_t>(i);
    c.docs.push_back(d);
  }
  test::TempDir tmp;
  build_index(c, tmp.path() / "i", IndexOptions{});
  Pipeline pipeline(Index::open(tmp.path() / "i"), default_cascade(100, 50));
  std::size_t answered = 0, with_items = 0, refused = 0;
  double slowest = 0;
  for (int i = 0; i < 1500; ++i) {
    Request req;
    req.query = i % 100 == 0 ? random_text(rng, 10000, false) : random_text(rng, 1 + rng() % 30, i % 3 == 2);
    req.k = 10;
    const auto t0 = Clock::now();
    try {
      const Response r = pipeline.run(req);
      ++answered;
      with_items += r.items.empty() ? 0 : 1;
      EXPECT_TRUE(valid_utf8(req.query)) << "query " << i;
    } catch (const Error& e) {
      ++refused;
      // Only two reasons to refuse a query: invalid UTF-8 or nothing but blanks.
      EXPECT_TRUE(test::contains(e.what(), "invalid UTF-8") || test::contains(e.what(), "field 'query': empty"))
          << "query " << i << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "query " << i << ": escaped " << typeid(e).name() << ": " << e.what();
    }
    const double s_taken = std::chrono::duration<double>(Clock::now() - t0).count();
    slowest = std::max(slowest, s_taken);
    ASSERT_LT(s_taken, kHangSeconds) << "query " << i << " of " << req.query.size() << " bytes looks like a hang";
  }
  std::printf("  1500 queries: %zu answered (%zu with results), %zu refused; slowest %.3f s\n", answered,
              with_items, refused, slowest);
  EXPECT_GT(with_items, 500u);
  EXPECT_GT(refused, 50u);
}

}  // namespace
}  // namespace funnel
