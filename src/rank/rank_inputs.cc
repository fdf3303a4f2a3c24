#include "rank/rank_inputs.h"

#include <algorithm>

#include "nn/doc_text.h"

namespace funnel::rank {

namespace {
std::vector<std::int64_t> without_cls(std::vector<std::int64_t> ids) {
  if (!ids.empty() && ids.front() == nn::Tokenizer::kCls) ids.erase(ids.begin());
  return ids;
}
}  // namespace

RankDocTokens tokenize_rank_docs(const Corpus& corpus, const nn::Tokenizer& tok, std::size_t max_len) {
  RankDocTokens t;
  t.title.reserve(corpus.docs.size());
  t.body.reserve(corpus.docs.size());
  for (const auto& d : corpus.docs) {
    t.title.push_back(without_cls(tok.encode(nn::doc_title_text(d), max_len)));
    t.body.push_back(without_cls(tok.encode(d.text, max_len)));
  }
  return t;
}

std::vector<std::int64_t> rank_query_tokens(const std::string& query, const nn::Tokenizer& tok, std::size_t max_len) {
  return without_cls(tok.encode(query, max_len));
}

std::vector<std::int64_t> pair_tokens(const std::vector<std::int64_t>& query, const std::vector<std::int64_t>& title,
                                      const std::vector<std::int64_t>& body, std::size_t max_len) {
  std::vector<std::int64_t> out;
  out.reserve(max_len);
  out.push_back(1);  // [CLS]
  const std::size_t qmax = std::max<std::size_t>(1, max_len / 4), tmax = std::max<std::size_t>(1, max_len / 3);
  for (std::size_t i = 0; i < query.size() && i < qmax && out.size() < max_len; ++i) out.push_back(query[i]);
  if (out.size() < max_len) out.push_back(kSepId);
  for (std::size_t i = 0; i < title.size() && i < tmax && out.size() < max_len; ++i) out.push_back(title[i]);
  if (out.size() < max_len) out.push_back(kSepId);
  for (std::size_t i = 0; i < body.size() && out.size() < max_len; ++i) out.push_back(body[i]);
  return out;
}

}  // namespace funnel::rank
