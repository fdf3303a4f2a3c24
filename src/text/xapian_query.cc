#include "text/xapian_query.h"

#include <string>

namespace funnel::text {

Xapian::Query build_query(const std::vector<Term>& terms, double phrase_boost) {
  if (terms.empty()) return Xapian::Query();
  // One leaf per occurrence, as Xapian's QueryParser builds an OR query (a
  // repeated word weighs more); a compound ("x-ray") is one phrase leaf.
  std::vector<Xapian::Query> leaves;
  for (std::size_t i = 0; i < terms.size();) {
    std::size_t j = i + 1;
    while (j < terms.size() && terms[j].joined) ++j;
    if (j - i == 1) {
      leaves.emplace_back(terms[i].text);
    } else {
      std::vector<Xapian::Query> parts;
      for (std::size_t k = i; k < j; ++k) parts.emplace_back(terms[k].text);
      leaves.emplace_back(Xapian::Query::OP_PHRASE, parts.begin(), parts.end(),
                          static_cast<Xapian::termcount>(parts.size()));
    }
    i = j;
  }
  Xapian::Query q(Xapian::Query::OP_OR, leaves.begin(), leaves.end());
  if (phrase_boost <= 0) return q;
  std::vector<Xapian::Query> phrase;
  bool first = true;
  Xapian::termpos last = 0;
  for (const Term& t : terms) {
    if (!first && t.pos == last) continue;  // an n-gram at a position already taken
    phrase.emplace_back(t.text);
    last = t.pos;
    first = false;
  }
  if (phrase.size() < 2) return q;
  Xapian::Query p(Xapian::Query::OP_PHRASE, phrase.begin(), phrase.end(), static_cast<Xapian::termcount>(phrase.size()));
  return Xapian::Query(Xapian::Query::OP_AND_MAYBE, q, Xapian::Query(Xapian::Query::OP_SCALE_WEIGHT, p, phrase_boost));
}

}  // namespace funnel::text
