// The synthetic world's vocabulary (data/world/vocab.txt, compiled in).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace funnel::detail {

struct VocabTopic {
  std::string name;                                  // e.g. "home_cooking"
  std::vector<std::string> core;                     // concept words
  std::vector<std::vector<std::string>> synonyms;    // per core word, doc-side alternates
};

struct Vocab {
  std::vector<VocabTopic> topics;
  std::vector<std::string> entity_first, entity_second;
  std::vector<std::string> author_first, author_second;
  std::vector<std::string> filler, connective;
};

// Parses the vocab format; throws funnel::Error naming `where`:line.
Vocab parse_vocab(std::string_view text, const std::string& where);
// The compiled-in vocabulary.
const Vocab& embedded_vocab();

}  // namespace funnel::detail
