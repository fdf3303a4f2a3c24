// Text inputs of the cross ranker, prepared once per corpus: each doc's
// title + tags and body as tokenizer ids, and the pair sequence of a query
// with a doc. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "funnel/data.h"
#include "nn/tokenizer.h"

namespace funnel::rank {

struct RankDocTokens {
  // Per corpus row, tokenizer ids without [CLS], at most max_len each.
  std::vector<std::vector<std::int64_t>> title, body;
};

RankDocTokens tokenize_rank_docs(const Corpus& corpus, const nn::Tokenizer& tok, std::size_t max_len);
// A query's ids without [CLS].
std::vector<std::int64_t> rank_query_tokens(const std::string& query, const nn::Tokenizer& tok, std::size_t max_len);

// The cross ranker's input: [CLS] query [SEP] title + tags [SEP] body, cut
// to `max_len` ids. The pieces are tokenizer ids without their own [CLS].
// The query keeps at most a quarter of max_len and the title + tags at most
// a third, so the body never crowds them out; the body fills the rest.
std::vector<std::int64_t> pair_tokens(const std::vector<std::int64_t>& query, const std::vector<std::int64_t>& title,
                                      const std::vector<std::int64_t>& body, std::size_t max_len);
constexpr std::int64_t kSepId = 2;  // sentencepiece </s>, used as [SEP]


}  // namespace funnel::rank
