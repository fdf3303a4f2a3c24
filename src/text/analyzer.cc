#include "text/analyzer.h"

#include <limits>

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uscript.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include "funnel/error.h"
#include "text/analysis.h"
#include "util/utf8.h"

namespace funnel::text {
namespace {

enum class Kind { kSeparator, kCjk, kLetter, kDigit, kJoiner, kApostrophe, kPoint, kCompound };

bool is_cjk_script(UChar32 c) {
  UErrorCode st = U_ZERO_ERROR;
  const UScriptCode s = uscript_getScript(c, &st);
  return U_SUCCESS(st) && (s == USCRIPT_HAN || s == USCRIPT_HIRAGANA || s == USCRIPT_KATAKANA ||
                           s == USCRIPT_HANGUL || s == USCRIPT_BOPOMOFO);
}

Kind kind_of(UChar32 c) {
  if (c == '\'' || c == 0x2019) return Kind::kApostrophe;  // ' and the typographic ’
  if (c == '.' || c == ',') return Kind::kPoint;
  if (c == '-' || c == '/' || c == ':' || c == '\\' || c == '@') return Kind::kCompound;
  switch (u_charType(c)) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      return is_cjk_script(c) ? Kind::kCjk : Kind::kLetter;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      return is_cjk_script(c) ? Kind::kCjk : Kind::kDigit;  // 〇 is a Han number
    case U_NON_SPACING_MARK:
    case U_COMBINING_SPACING_MARK:
    case U_CONNECTOR_PUNCTUATION:
      return Kind::kJoiner;
    default:  // enclosing marks (the keycap of 1️⃣) included: they draw, they do not spell
      return Kind::kSeparator;
  }
}

void append_utf8(std::string& s, UChar32 c) {
  char buf[U8_MAX_LENGTH];
  int32_t n = 0;
  U8_APPEND_UNSAFE(buf, n, c);
  s.append(buf, static_cast<std::size_t>(n));
}

}  // namespace

void check_utf8(std::string_view text, const std::string& where) {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int32_t>::max()))
    throw Error(where + ": text of " + std::to_string(text.size()) + " bytes is too long (at most 2^31 - 1)");
  if (auto bad = detail::find_invalid_utf8(text); bad != detail::kValidUtf8)
    throw Error(where + ": invalid UTF-8 at byte " + std::to_string(bad + 1));
}

void validate(const AnalyzerOptions& o, const std::string& where) {
  make_stemmer(o.stemmer, where);
  if (o.cjk_ngrams.empty()) throw Error(where + ": field 'cjk_ngrams': expected at least one n-gram length");
  for (std::size_t i = 0; i < o.cjk_ngrams.size(); ++i) {
    const int n = o.cjk_ngrams[i];
    if (n < 1 || n > 4) throw Error(where + ": field 'cjk_ngrams': lengths must lie in 1..4, got " + std::to_string(n));
    if (i > 0 && n <= o.cjk_ngrams[i - 1])
      throw Error(where + ": field 'cjk_ngrams': lengths must be ascending and distinct");
  }
}

Analyzer::Analyzer(AnalyzerOptions options, const std::string& where) : options_(std::move(options)) {
  validate(options_, where);
  stem_ = make_stemmer(options_.stemmer, where);
}

void Analyzer::emit_word(std::string& word, bool has_letter, bool joined, std::uint32_t& pos,
                         std::vector<Term>& out) {
  if (word.empty()) return;
  std::string term = has_letter ? stem_(word) : word;
  word.clear();
  if (term.empty() || term.size() > kMaxTermBytes) return;
  out.push_back({std::move(term), pos++, joined});
}

void Analyzer::emit_cjk(const std::vector<std::string>& chars, std::uint32_t& pos, std::vector<Term>& out) const {
  const std::size_t len = chars.size();
  if (len == 0) return;
  // A run shorter than every n-gram length is kept whole, so that a single
  // character is still a term when only bigrams are asked for.
  if (len < static_cast<std::size_t>(options_.cjk_ngrams.front())) {
    std::string run;
    for (const auto& c : chars) run += c;
    out.push_back({std::move(run), pos});
    pos += static_cast<std::uint32_t>(len);
    return;
  }
  for (std::size_t i = 0; i < len; ++i) {
    for (int n : options_.cjk_ngrams) {
      if (i + static_cast<std::size_t>(n) > len) break;
      std::string g;
      for (std::size_t j = i; j < i + static_cast<std::size_t>(n); ++j) g += chars[j];
      out.push_back({std::move(g), pos + static_cast<std::uint32_t>(i)});
    }
  }
  pos += static_cast<std::uint32_t>(len);
}

std::vector<Term> Analyzer::analyse(std::string_view text, std::uint32_t first_position, const std::string& where) {
  check_utf8(text, where);
  UErrorCode st = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCCasefoldInstance(st);
  if (U_FAILURE(st)) throw Error(where + ": Unicode normaliser unavailable (" + u_errorName(st) + ")");
  const icu::UnicodeString norm =
      nfkc->normalize(icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size()))), st);
  if (U_FAILURE(st)) throw Error(where + ": Unicode normalisation failed (" + u_errorName(st) + ")");

  // Code points and their kinds, so that joiners can look one ahead.
  std::vector<UChar32> cps;
  cps.reserve(static_cast<std::size_t>(norm.length()));
  for (int32_t i = 0; i < norm.length();) {
    const UChar32 c = norm.char32At(i);
    cps.push_back(c);
    i += U16_LENGTH(c);
  }
  std::vector<Kind> kinds(cps.size());
  for (std::size_t i = 0; i < cps.size(); ++i) kinds[i] = kind_of(cps[i]);

  std::vector<Term> out;
  std::uint32_t pos = first_position;
  std::string word;
  bool has_letter = false, has_alnum = false;
  bool joined = false;  // the word being read follows a word and a compound character
  std::vector<std::string> run;  // the current CJK run, one string per character
  auto end_word = [&] {
    if (has_alnum) emit_word(word, has_letter, joined, pos, out);
    word.clear();
    has_letter = has_alnum = joined = false;
  };
  auto is_alnum = [](Kind k) { return k == Kind::kLetter || k == Kind::kDigit; };
  auto end_run = [&] {
    emit_cjk(run, pos, out);
    run.clear();
  };
  for (std::size_t i = 0; i < cps.size(); ++i) {
    const Kind k = kinds[i];
    const Kind prev = i > 0 ? kinds[i - 1] : Kind::kSeparator;
    const Kind next = i + 1 < cps.size() ? kinds[i + 1] : Kind::kSeparator;
    if (k == Kind::kCjk) {
      end_word();
      run.emplace_back();
      append_utf8(run.back(), cps[i]);
      continue;
    }
    if (k == Kind::kJoiner && !run.empty() && cps[i] != '_') continue;  // a mark inside a CJK run
    end_run();
    if (k == Kind::kLetter || k == Kind::kDigit || k == Kind::kJoiner) {
      append_utf8(word, cps[i]);
      has_letter = has_letter || k == Kind::kLetter;
      has_alnum = has_alnum || k != Kind::kJoiner;
    } else if (k == Kind::kApostrophe && prev == Kind::kLetter && next == Kind::kLetter && !word.empty()) {
      word += '\'';
    } else if (k == Kind::kPoint && prev == Kind::kDigit && next == Kind::kDigit && !word.empty()) {
      append_utf8(word, cps[i]);
    } else {
      const bool compound = (k == Kind::kCompound || k == Kind::kPoint) && is_alnum(prev) && is_alnum(next) &&
                            has_alnum;
      end_word();
      joined = compound;
    }
  }
  end_word();
  end_run();
  return out;
}

std::vector<std::string> Analyzer::terms(std::string_view text, const std::string& where) {
  std::vector<std::string> out;
  for (auto& t : analyse(text, 0, where)) out.push_back(std::move(t.text));
  return out;
}

}  // namespace funnel::text
