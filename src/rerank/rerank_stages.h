// The re-rank stage types, after fusion (combinable in one cascade):
//   rules  business rules over the list (src/rerank/rules.h): at most n items
//          of one author or category within any window of w positions, caps
//          per category; when they cannot all hold, the best possible list
//          and a note in the trace
//   dpp    diversity with a DPP over the stored doc embeddings (src/rerank/dpp.h)
// Both reorder the first `select` places (default: the request's k) and keep
// the rest in their incoming order; scores are left as they came. Config in
// docs/formats.md ("Cascade config"), algorithms in docs/rerank.md.
#pragma once

#include <memory>
#include <string>

#include "funnel/stage.h"

namespace funnel::rerank {

std::unique_ptr<Stage> make_dpp_stage(const nlohmann::json& cfg, const Index& index, const std::string& where);
std::unique_ptr<Stage> make_rules_stage(const nlohmann::json& cfg, const Index& index, const std::string& where);

}  // namespace funnel::rerank
