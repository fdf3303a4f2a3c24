// Text analysis shared by every lexical component: the stemmer factory, the
// word splitter of the cross features, and the BM25 formula with the
// channel's parameters. The BM25 recall channel indexes and parses with
// Xapian (its TermGenerator and QueryParser, configured from the same
// stemmer); the cross features split words themselves and score with the
// same formula and defaults (Bm25Options), so that on plain words both give
// the same BM25 (tests/text/analysis_test.cc). The Chinese-ready analyser
// that will serve both at once lives here too when it comes.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>

#include <xapian.h>

#include "funnel/recall.h"

namespace funnel::text {

// A Snowball stemmer ("english", "french", ...; "" or "none": no stemming).
// Throws funnel::Error naming `where` and the option for an unknown language.
Xapian::Stem make_stemmer(const std::string& language, const std::string& where);

// Calls fn(word) for every word of `text`: maximal runs of ASCII letters and
// digits and of bytes >= 0x80 (so non-Latin text stays whole), ASCII letters
// lower-cased. `word` is reused between calls.
template <class Fn>
void for_each_word(std::string_view text, Fn&& fn) {
  std::string word;
  for (unsigned char c : text) {
    const bool word_byte = c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (word_byte) {
      word.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c));
    } else if (!word.empty()) {
      fn(word);
      word.clear();
    }
  }
  if (!word.empty()) fn(word);
}

// The BM25 of Xapian's BM25Weight (the recall channel's), for one term:
//   idf(df) * (k1 + 1) tf / (k1 (b * normlen + 1 - b) + tf),
//   normlen = max(len / avglen, min_normlen),
//   idf(df) = ln(t), t = (N - df + 0.5) / (df + 0.5), and t below 2 is
//   replaced by t / 2 + 1 (so a term in most docs keeps a small positive
//   weight instead of a negative one).
// k1, b and min_normlen come from Bm25Options (defaults 1, 0.5, 0.5); a
// query term counts once (Xapian's k3 = 1 factor is 1 for it).
inline double bm25_idf(double n_docs, double df) {
  double t = (n_docs - df + 0.5) / (df + 0.5);
  if (t < 2) t = t * 0.5 + 1;
  return std::log(t);
}
inline double bm25_tf_part(double tf, double len, double avg_len, const Bm25Options& o) {
  if (tf <= 0) return 0;
  const double normlen = std::max(avg_len > 0 ? len / avg_len : 0.0, o.min_normlen);
  return (o.k1 + 1) * tf / (o.k1 * (o.b * normlen + 1 - o.b) + tf);
}

}  // namespace funnel::text
