// The stemmer factory and the BM25 formula with the channel's parameters.
// The BM25 recall channel indexes and searches with Xapian over the terms of
// text::Analyzer (text/analyzer.h); the cross features analyse with the same
// Analyzer and score with the same formula and defaults (Bm25Options), so
// that both give the same BM25 for the same field and query
// (tests/text/analysis_test.cc).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>

#include <xapian.h>

#include "funnel/recall.h"
#include "text/analyzer.h"

namespace funnel::text {

// A Snowball stemmer ("english", "french", ...; "" or "none": no stemming).
// Throws funnel::Error naming `where` and the option for an unknown language.
Xapian::Stem make_stemmer(const std::string& language, const std::string& where);

// The analyser options of a BM25 configuration (its stemmer and CJK
// n-grams): the channel and the cross features analyse with these.
inline AnalyzerOptions analyzer_options(const Bm25Options& o) { return {o.stemmer, o.cjk_ngrams}; }

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
