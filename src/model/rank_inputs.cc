#include "model/rank_inputs.h"

#include "model/features.h"

namespace funnel::model {

namespace {
std::vector<std::int64_t> without_cls(std::vector<std::int64_t> ids) {
  if (!ids.empty() && ids.front() == Tokenizer::kCls) ids.erase(ids.begin());
  return ids;
}
}  // namespace

RankDocTokens tokenize_rank_docs(const Corpus& corpus, const Tokenizer& tok, std::size_t max_len) {
  RankDocTokens t;
  t.title.reserve(corpus.docs.size());
  t.body.reserve(corpus.docs.size());
  for (const auto& d : corpus.docs) {
    t.title.push_back(without_cls(tok.encode(doc_title_text(d), max_len)));
    t.body.push_back(without_cls(tok.encode(d.text, max_len)));
  }
  return t;
}

std::vector<std::int64_t> rank_query_tokens(const std::string& query, const Tokenizer& tok, std::size_t max_len) {
  return without_cls(tok.encode(query, max_len));
}

}  // namespace funnel::model
