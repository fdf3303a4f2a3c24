// Text inputs of the cross ranker, prepared once per corpus: each doc's
// title + tags and body as tokenizer ids, and the pair sequence of a query
// with a doc. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "funnel/data.h"
#include "model/tokenizer.h"

namespace funnel::model {

struct RankDocTokens {
  // Per corpus row, tokenizer ids without [CLS], at most max_len each.
  std::vector<std::vector<std::int64_t>> title, body;
};

RankDocTokens tokenize_rank_docs(const Corpus& corpus, const Tokenizer& tok, std::size_t max_len);
// A query's ids without [CLS].
std::vector<std::int64_t> rank_query_tokens(const std::string& query, const Tokenizer& tok, std::size_t max_len);

}  // namespace funnel::model
