// `funnel experiment tokenizer`: how well the models' sentencepiece tokenizer
// covers a collection's text at several vocabulary sizes (the <unk> share of
// the pieces of docs and queries), so that a preset can be chosen for a
// collection with many distinct characters (Chinese). docs/text.md.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace funnel::experiments {

struct TokenizerCheckOptions {
  std::string data;                              // BEIR-layout folder
  std::string out;                               // scratch folder for the models (kept)
  std::vector<std::size_t> vocab_sizes = {1000, 4000, 8000};
  bool json = false;
};

// Per vocabulary size: trains the tokenizer as `funnel fit` does (on the
// docs' text and the queries), encodes every doc and query, and reports
// {"vocab_size", "vocab_trained", "distinct_chars", "chars_kept",
//  "kept_share", "unk_share_docs", "unk_share_queries", "pieces_per_doc"}.
// Prints a table (or the JSON array) and returns it. Throws funnel::Error.
nlohmann::json run_tokenizer_check(const TokenizerCheckOptions& options);

}  // namespace funnel::experiments
