// The two-tower model's inputs prepared from corpus rows and query texts:
// token ids, hashed word bags, hashed author and category ids, image
// vectors. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "funnel/data.h"
#include "nn/tokenizer.h"
#include "prerank/model_config.h"

namespace funnel::prerank {

struct DocFeatures {
  std::vector<std::vector<std::int64_t>> tokens;  // per doc, [CLS] first: the body if split_fields, else all text
  std::vector<std::vector<std::int64_t>> title;   // per doc: title + tags, only if split_fields
  std::vector<std::vector<std::int64_t>> bow;     // per doc: hashed words of all its text, only if bow_buckets
  std::vector<std::int64_t> author, category;     // per doc
  std::vector<float> image;                       // docs x image_dim (zeros when absent)
  int image_dim = 0;
};

// Bucket ids of the text's lower-cased words and adjacent word pairs
// (FNV-1a modulo `buckets`); never empty (a lone bucket 0 for no words).
std::vector<std::int64_t> bow_ids(const std::string& text, int buckets);
std::vector<std::vector<std::int64_t>> bow_of_texts(const std::vector<std::string>& texts, int buckets);
DocFeatures featurize_docs(const Corpus& corpus, const nn::Tokenizer& tok, const TwoTowerConfig& c);
std::vector<std::vector<std::int64_t>> featurize_queries(const std::vector<std::string>& texts,
                                                         const nn::Tokenizer& tok, const TwoTowerConfig& c);

}  // namespace funnel::prerank
