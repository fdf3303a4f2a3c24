// The JSON form of a rule set, shared by the rules stage and the diversity
// metrics of `funnel eval` (rule_violations):
//   {"windows": [{"field": "author" | "category", "max": 1, "window": 3}],
//    "caps": {"CATEGORY": max}}
// Category names are the index's (INDEX/docs.tsv).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/index.h"
#include "rerank/rules.h"

namespace funnel::rerank {

struct RuleSet {
  std::vector<WindowRule> windows;
  std::vector<CapRule> caps;
};

// Reads "windows" and "caps" from `cfg` (other keys, like "type", are the caller's).
// Throws funnel::Error naming `where` and the field.
RuleSet parse_rule_set(const nlohmann::json& cfg, const Index& index, const std::string& where);

// The rules `funnel eval` counts when the cascade has no rules stage: at
// most one item of an author within any 3 consecutive positions.
RuleSet default_rule_set();

// The authors and categories of `rows`, for RuleItems.
void rule_fields(const Index& index, std::span<const std::uint32_t> rows, std::vector<std::uint32_t>& authors,
                 std::vector<std::uint32_t>& categories);

}  // namespace funnel::rerank
