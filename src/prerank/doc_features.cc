#include "prerank/doc_features.h"

#include <algorithm>

#include "nn/doc_text.h"
#include "text/analyzer.h"
#include "util/hash.h"

namespace funnel::prerank {

std::vector<std::int64_t> bow_ids(const std::string& text, int buckets) {
  // Unstemmed terms of the one analyser (text/analyzer.h): case-folded
  // words, CJK unigrams and bigrams. One analyser per call: it is not
  // thread-safe and this runs per request.
  text::Analyzer analyzer(text::AnalyzerOptions{"none", {1, 2}}, "bag of words");
  const std::vector<std::string> words = analyzer.terms(text, "bag of words");
  std::vector<std::int64_t> ids;
  const auto B = static_cast<std::uint64_t>(buckets);
  for (std::size_t i = 0; i < words.size(); ++i) {
    ids.push_back(static_cast<std::int64_t>(detail::stable_hash(words[i]) % B));
    if (i + 1 < words.size()) ids.push_back(static_cast<std::int64_t>(detail::stable_hash(words[i] + " " + words[i + 1]) % B));
  }
  if (ids.empty()) ids.push_back(0);
  return ids;
}

std::vector<std::vector<std::int64_t>> bow_of_texts(const std::vector<std::string>& texts, int buckets) {
  std::vector<std::vector<std::int64_t>> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(bow_ids(t, buckets));
  return out;
}

DocFeatures featurize_docs(const Corpus& corpus, const nn::Tokenizer& tok, const TwoTowerConfig& c) {
  DocFeatures f;
  const std::size_t n = corpus.docs.size();
  f.image_dim = c.image_dim;
  f.tokens.reserve(n);
  f.author.reserve(n);
  f.category.reserve(n);
  f.image.assign(n * static_cast<std::size_t>(c.image_dim), 0.0f);
  for (std::size_t i = 0; i < n; ++i) {
    const Doc& d = corpus.docs[i];
    if (c.bow_buckets > 0) f.bow.push_back(bow_ids(nn::doc_text(d), c.bow_buckets));
    if (c.split_fields) {
      f.title.push_back(tok.encode(nn::doc_title_text(d), static_cast<std::size_t>(c.encoder.max_len)));
      f.tokens.push_back(tok.encode(d.text, static_cast<std::size_t>(c.encoder.max_len)));
    } else {
      f.tokens.push_back(tok.encode(nn::doc_text(d), static_cast<std::size_t>(c.encoder.max_len)));
    }
    // Bucket 0 means "no author"/"no category".
    f.author.push_back(d.author.empty() ? 0 : 1 + static_cast<std::int64_t>(detail::stable_hash(d.author) % (c.author_buckets - 1)));
    f.category.push_back(d.category.empty() ? 0 : 1 + static_cast<std::int64_t>(detail::stable_hash(d.category) % 15));
    if (c.image_dim > 0 && static_cast<int>(d.image_vec.size()) == c.image_dim)
      std::copy(d.image_vec.begin(), d.image_vec.end(), f.image.begin() + static_cast<std::ptrdiff_t>(i * c.image_dim));
  }
  return f;
}

std::vector<std::vector<std::int64_t>> featurize_queries(const std::vector<std::string>& texts, const nn::Tokenizer& tok,
                                                         const TwoTowerConfig& c) {
  std::vector<std::vector<std::int64_t>> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(tok.encode(t, static_cast<std::size_t>(c.encoder.max_len)));
  return out;
}

}  // namespace funnel::prerank
