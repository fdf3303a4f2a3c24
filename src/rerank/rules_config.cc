#include "rerank/rules_config.h"

#include <algorithm>

#include "funnel/error.h"

namespace funnel::rerank {
using nlohmann::json;

RuleSet parse_rule_set(const json& cfg, const Index& index, const std::string& where) {
  RuleSet rs;
  if (cfg.contains("windows")) {
    const std::string w = where + ": field 'windows'";
    if (!cfg["windows"].is_array()) throw Error(w + ": expected a list of {\"field\", \"max\", \"window\"}");
    for (std::size_t i = 0; i < cfg["windows"].size(); ++i) {
      const json& r = cfg["windows"][i];
      const std::string wi = w + "[" + std::to_string(i) + "]";
      if (!r.is_object()) throw Error(wi + ": expected {\"field\", \"max\", \"window\"}");
      WindowRule rule;
      for (auto it = r.begin(); it != r.end(); ++it) {
        if (it.key() == "field") {
          if (it.value() == "author") rule.field = RuleField::kAuthor;
          else if (it.value() == "category") rule.field = RuleField::kCategory;
          else throw Error(wi + ": field 'field': expected \"author\" or \"category\"");
        } else if (it.key() == "max" || it.key() == "window") {
          if (!it.value().is_number_integer() || it.value().get<long long>() < 1)
            throw Error(wi + ": field '" + it.key() + "': expected an integer >= 1");
          (it.key() == "max" ? rule.max : rule.window) = it.value().get<std::size_t>();
        } else {
          throw Error(wi + ": unknown field '" + it.key() + "' (known: field, max, window)");
        }
      }
      rs.windows.push_back(rule);
    }
  }
  if (cfg.contains("caps")) {
    const std::string w = where + ": field 'caps'";
    if (!cfg["caps"].is_object()) throw Error(w + ": expected an object {category: max}");
    const auto& cats = index.category_names();
    for (auto it = cfg["caps"].begin(); it != cfg["caps"].end(); ++it) {
      auto c = std::find(cats.begin(), cats.end(), it.key());
      if (c == cats.end()) throw Error(w + ": no category '" + it.key() + "' in the index");
      if (!it.value().is_number_integer() || it.value().get<long long>() < 0)
        throw Error(w + ": '" + it.key() + "': expected an integer >= 0");
      rs.caps.push_back({static_cast<std::uint32_t>(c - cats.begin()), it.value().get<std::size_t>()});
    }
  }
  return rs;
}

RuleSet default_rule_set() { return RuleSet{{WindowRule{RuleField::kAuthor, 1, 3}}, {}}; }

void rule_fields(const Index& index, std::span<const std::uint32_t> rows, std::vector<std::uint32_t>& authors,
                 std::vector<std::uint32_t>& categories) {
  authors.clear();
  categories.clear();
  for (auto r : rows) {
    authors.push_back(index.author_id(r));
    categories.push_back(index.category_id(r));
  }
}

}  // namespace funnel::rerank
