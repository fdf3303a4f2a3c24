// The one text analyser of funnel: every lexical component (the BM25
// channel at index and query time, the rank stage's cross features, the
// query builder) turns text into terms here, so that a word is the same
// term wherever it is counted. docs/text.md describes it with examples.
//
// Steps, in order:
//   1. The input must be valid UTF-8 (else funnel::Error naming `where`
//      and the byte offset).
//   2. Unicode NFKC normalisation with case folding (ICU's NFKC_Casefold):
//      full-width Latin letters and digits become ASCII, ligatures and
//      compatibility forms are expanded, upper case is folded ("ÉTÉ" and
//      "été" are one term), default-ignorable characters are removed.
//   3. Segmentation by script. A CJK run (Han, Hiragana, Katakana, Hangul,
//      Bopomofo characters) yields its character n-grams: with the default
//      n = {1, 2}, "转氨酶" gives 转 转氨 氨 氨酶 酶. Any other run of letters,
//      digits, combining (not enclosing) marks and connectors ("_") is a word; an apostrophe
//      between two letters ("patient's") and a '.' or ',' between two digits
//      ("1.5") stay inside the word. CJK runs end at any Latin letter or digit
//      ("谷丙转氨酶53" is the run 谷丙转氨酶 and the number 53). Everything else
//      (spaces, punctuation, symbols, emoji) separates.
//   4. Words that contain a letter are stemmed with the Snowball stemmer of
//      the chosen language; numbers are kept as they are. Words longer than
//      kMaxTermBytes after stemming are dropped (as Xapian's TermGenerator
//      drops over-long words).
//
// Positions: a word takes one position; the n-grams of a CJK run take the
// position of their first character, one position per character. Positions
// start at the `first_position` given and are what Xapian stores for phrase
// and proximity queries.
//
// Thread safety: an Analyzer holds a Xapian::Stem, which is not safe to use
// from two threads at once; use one Analyzer per thread (construction is
// cheap: a stemmer and a copy of the options).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <xapian.h>

namespace funnel::text {

struct AnalyzerOptions {
  // Snowball stemmer language ("english", "french", ...; "none" or "": no
  // stemming).
  std::string stemmer = "english";
  // Character n-gram lengths for CJK runs, each in 1..4, ascending and
  // distinct, not empty. {1, 2}: unigrams and bigrams.
  std::vector<int> cjk_ngrams = {1, 2};
};

// Longest term kept, in bytes (Xapian's TermGenerator default word limit).
inline constexpr std::size_t kMaxTermBytes = 64;

// One term of the stream: its text (UTF-8), its position, and whether it is
// joined to the previous word by one of - / . : \ @ with no space
// ("x-ray", "and/or": a compound the query builder searches as a phrase, as
// Xapian's QueryParser does).
struct Term {
  std::string text;
  std::uint32_t pos = 0;
  bool joined = false;
};

class Analyzer {
 public:
  // Throws funnel::Error naming `where` for an unknown stemmer language or
  // invalid n-gram lengths.
  explicit Analyzer(AnalyzerOptions options, const std::string& where = "analyzer");

  // The terms of `text` in order (see the file comment). Throws
  // funnel::Error naming `where` for invalid UTF-8.
  std::vector<Term> analyse(std::string_view text, std::uint32_t first_position = 0,
                            const std::string& where = "text");

  // analyse() without positions.
  std::vector<std::string> terms(std::string_view text, const std::string& where = "text");

  const AnalyzerOptions& options() const { return options_; }

 private:
  void emit_word(std::string& word, bool has_letter, bool joined, std::uint32_t& pos, std::vector<Term>& out);
  void emit_cjk(const std::vector<std::string>& chars, std::uint32_t& pos, std::vector<Term>& out) const;

  AnalyzerOptions options_;
  Xapian::Stem stem_;
};

// Checks that `text` is valid UTF-8 (no overlong forms, surrogates or code
// points above U+10FFFF); throws funnel::Error "WHERE: invalid UTF-8 at byte
// N" (N counted from 1) otherwise.
void check_utf8(std::string_view text, const std::string& where);

// Validates options (as the constructor does) without building an analyser.
void validate(const AnalyzerOptions& options, const std::string& where);

}  // namespace funnel::text
