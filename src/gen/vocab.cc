#include "gen/vocab.h"

#include <sstream>

#include "funnel/error.h"

namespace funnel::detail {

extern const std::string_view kEmbeddedVocab;

namespace {
std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}
std::string_view trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}
}  // namespace

Vocab parse_vocab(std::string_view text, const std::string& where) {
  Vocab v;
  std::vector<std::string>* list = nullptr;
  VocabTopic* topic = nullptr;
  std::size_t pos = 0;
  int line_no = 0;
  auto fail = [&](const std::string& what) {
    throw Error(where + ":" + std::to_string(line_no) + ": " + what);
  };
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = trim(text.substr(pos, nl - pos));
    pos = nl + 1;
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    if (line.front() == '[') {
      if (line.back() != ']') fail("section header must end with ']'");
      std::string_view name = trim(line.substr(1, line.size() - 2));
      topic = nullptr;
      list = nullptr;
      if (name.substr(0, 6) == "topic ") {
        v.topics.push_back({std::string(trim(name.substr(6))), {}, {}});
        topic = &v.topics.back();
      } else if (name == "entity_first") list = &v.entity_first;
      else if (name == "entity_second") list = &v.entity_second;
      else if (name == "author_first") list = &v.author_first;
      else if (name == "author_second") list = &v.author_second;
      else if (name == "filler") list = &v.filler;
      else if (name == "connective") list = &v.connective;
      else fail("unknown section '" + std::string(name) + "'");
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) fail("expected 'key: values'");
    std::string_view key = trim(line.substr(0, colon));
    std::string_view rest = line.substr(colon + 1);
    if (topic) {
      if (key == "core") {
        for (auto& w : split_ws(rest)) {
          topic->core.push_back(w);
          topic->synonyms.emplace_back();
        }
      } else if (key == "syn") {
        for (auto& item : split_ws(rest)) {
          auto eq = item.find('=');
          if (eq == std::string::npos) fail("synonym '" + item + "' must be word=alt[,alt]");
          std::string word = item.substr(0, eq);
          std::size_t idx = 0;
          while (idx < topic->core.size() && topic->core[idx] != word) ++idx;
          if (idx == topic->core.size()) fail("synonym for '" + word + "', not a core word of this topic");
          std::string alts = item.substr(eq + 1);
          std::size_t s = 0;
          while (s <= alts.size()) {
            auto comma = alts.find(',', s);
            if (comma == std::string::npos) comma = alts.size();
            if (comma > s) topic->synonyms[idx].push_back(alts.substr(s, comma - s));
            s = comma + 1;
          }
        }
      } else {
        fail("unknown key '" + std::string(key) + "' in a topic section");
      }
    } else if (list) {
      if (key != "words") fail("expected 'words:'");
      for (auto& w : split_ws(rest)) list->push_back(w);
    } else {
      fail("line outside any section");
    }
  }
  // The generator draws up to 3 distinct topics per entity or user, needs
  // enough name pairs for unique entity and author names, and 4 concepts
  // plus background words per doc.
  if (v.topics.size() < 3) throw Error(where + ": needs at least 3 topics");
  for (const auto& t : v.topics)
    if (t.core.size() < 8) throw Error(where + ": topic '" + t.name + "' needs at least 8 core words");
  for (auto* l : {&v.entity_first, &v.entity_second, &v.author_first, &v.author_second, &v.filler,
                  &v.connective})
    if (l->size() < 4) throw Error(where + ": every word section needs at least 4 words");
  if (v.entity_first.size() * v.entity_second.size() < 40 || v.author_first.size() * v.author_second.size() < 20)
    throw Error(where + ": too few name parts (entity pairs >= 40, author pairs >= 20)");
  return v;
}

const Vocab& embedded_vocab() {
  static const Vocab v = parse_vocab(kEmbeddedVocab, "data/world/vocab.txt");
  return v;
}

}  // namespace funnel::detail
