#include "experiments/tokenizer_check.h"

#include <cstdio>
#include <filesystem>
#include <unordered_set>

#include "funnel/data.h"
#include "funnel/error.h"
#include "nn/doc_text.h"
#include "nn/tokenizer.h"

namespace funnel::experiments {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Unknown {
  std::size_t pieces = 0, unknown = 0;
  double share() const { return pieces ? static_cast<double>(unknown) / static_cast<double>(pieces) : 0.0; }
};

Unknown count_unknown(const nn::Tokenizer& tok, const std::vector<std::string>& texts) {
  Unknown u;
  for (const auto& t : texts) {
    const auto ids = tok.encode(t, 100000);
    for (std::size_t i = 1; i < ids.size(); ++i) {  // after [CLS]
      ++u.pieces;
      u.unknown += ids[i] == nn::Tokenizer::kPad ? 1 : 0;  // <unk> doubles as padding
    }
  }
  return u;
}

}  // namespace

json run_tokenizer_check(const TokenizerCheckOptions& o) {
  if (o.vocab_sizes.empty()) throw Error("--vocab-sizes: at least one size");
  const Dataset ds = load_dataset(o.data);
  std::vector<std::string> docs, queries;
  for (const auto& d : ds.corpus.docs) docs.push_back(nn::doc_text(d));
  for (const auto& q : ds.queries) queries.push_back(q.text);
  std::vector<std::string> text = docs;  // what `funnel fit` trains on
  text.insert(text.end(), queries.begin(), queries.end());
  const std::size_t distinct = nn::Tokenizer::kept_characters(text, 1 << 30).size();
  fs::create_directories(o.out);

  json rows = json::array();
  for (std::size_t v : o.vocab_sizes) {
    if (v < 8 || v > 1000000) throw Error("--vocab-sizes: each in 8..1000000, got " + std::to_string(v));
    double share = 1;
    const std::size_t kept = nn::Tokenizer::kept_characters(text, static_cast<int>(v), &share).size();
    const fs::path prefix = fs::path(o.out) / ("tokenizer-" + std::to_string(v));
    nn::Tokenizer::train(text, prefix, static_cast<int>(v), 1);
    const nn::Tokenizer tok(fs::path(prefix) += ".model");
    const Unknown d = count_unknown(tok, docs), q = count_unknown(tok, queries);
    rows.push_back({{"vocab_size", v},
                    {"vocab_trained", tok.vocab_size()},
                    {"distinct_chars", distinct},
                    {"chars_kept", kept},
                    {"kept_share", share},
                    {"unk_share_docs", d.share()},
                    {"unk_share_queries", q.share()},
                    {"pieces_per_doc", docs.empty() ? 0.0 : static_cast<double>(d.pieces) / static_cast<double>(docs.size())}});
  }
  if (o.json) {
    std::printf("%s\n", rows.dump().c_str());
    return rows;
  }
  std::printf("%s: %zu docs, %zu queries, %zu distinct characters\n", o.data.c_str(), docs.size(), queries.size(), distinct);
  std::printf("%10s %10s %10s %10s %12s %12s %10s\n", "vocab", "trained", "kept", "kept share", "unk docs",
              "unk queries", "pieces/doc");
  for (const auto& r : rows)
    std::printf("%10zu %10d %10zu %10.4f %12.4f %12.4f %10.1f\n", r["vocab_size"].get<std::size_t>(),
                r["vocab_trained"].get<int>(), r["chars_kept"].get<std::size_t>(), r["kept_share"].get<double>(),
                r["unk_share_docs"].get<double>(), r["unk_share_queries"].get<double>(),
                r["pieces_per_doc"].get<double>());
  return rows;
}

}  // namespace funnel::experiments
