// Model inputs prepared from corpus rows and query texts: token ids, hashed
// author and category ids, image vectors. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "funnel/data.h"
#include "model/config.h"
#include "model/tokenizer.h"

namespace funnel::model {

// FNV-1a, so that hashed ids are the same on every platform and build.
std::uint64_t stable_hash(const std::string& s);

struct DocFeatures {
  std::vector<std::vector<std::int64_t>> tokens;  // per doc, [CLS] first: the body if split_fields, else all text
  std::vector<std::vector<std::int64_t>> title;   // per doc: title + tags, only if split_fields
  std::vector<std::vector<std::int64_t>> bow;     // per doc: hashed words of all its text, only if bow_buckets
  std::vector<std::int64_t> author, category;     // per doc
  std::vector<float> image;                       // docs x image_dim (zeros when absent)
  int image_dim = 0;
};

// The text a doc tower reads: title, then tags, then body.
std::string doc_text(const Doc& d);
// Title, then tags.
std::string doc_title_text(const Doc& d);
// Bucket ids of the text's lower-cased words and adjacent word pairs
// (FNV-1a modulo `buckets`); never empty (a lone bucket 0 for no words).
std::vector<std::int64_t> bow_ids(const std::string& text, int buckets);
std::vector<std::vector<std::int64_t>> bow_of_texts(const std::vector<std::string>& texts, int buckets);
DocFeatures featurize_docs(const Corpus& corpus, const Tokenizer& tok, const TwoTowerConfig& c);
std::vector<std::vector<std::int64_t>> featurize_queries(const std::vector<std::string>& texts,
                                                         const Tokenizer& tok, const TwoTowerConfig& c);

// The cross ranker's input: [CLS] query [SEP] title + tags [SEP] body, cut
// to `max_len` ids. The pieces are tokenizer ids without their own [CLS].
// The query keeps at most a quarter of max_len and the title + tags at most
// a third, so the body never crowds them out; the body fills the rest.
std::vector<std::int64_t> pair_tokens(const std::vector<std::int64_t>& query, const std::vector<std::int64_t>& title,
                                      const std::vector<std::int64_t>& body, std::size_t max_len);
constexpr std::int64_t kSepId = 2;  // sentencepiece </s>, used as [SEP]

}  // namespace funnel::model
