// What a fusion stage reads from a candidate, by name, written once for the
// stages, the fusion trainer (`funnel fit --stage fusion`) and the tuner:
//   "score"          the score the candidate came in with (the rank stage's)
//   a pXtr name      the rank stage's prediction ("relevance", "click", "watch", ...)
//   "category=NAME"  1 if the doc's category is NAME, else 0 (index metadata)
//   "query_terms"    the number of whitespace-separated words of the query
//   "position"       the candidate's 0-based place in the incoming order / n
// and the named weights that combine them.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/candidate.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"

namespace funnel::fusion {

// Input names with their weights, in a fixed order.
using NamedWeights = std::vector<std::pair<std::string, double>>;

// {"name": weight, ...} -> NamedWeights (sorted by name); every weight a
// finite number. Throws funnel::Error naming `where`.
NamedWeights parse_weights(const nlohmann::json& j, const std::string& where);
nlohmann::json weights_to_json(const NamedWeights& w);
// `base` with the weights named in `overrides` replaced (names not in base
// are added). Throws funnel::Error naming `where` on a bad value.
NamedWeights apply_weight_overrides(NamedWeights base, const nlohmann::json& overrides, const std::string& where);

// The n x names.size() feature matrix (row-major) of `cands` for the
// request. Throws funnel::Error naming `where` when a name is not available
// (e.g. a pXtr without a rank stage before), listing what is.
std::vector<float> fusion_features(const Index& index, const Request& request, std::span<const Candidate> cands,
                                   std::span<const std::string> names, const std::string& where);

// MODELS/fusion/<type>.tuned.json, written by `funnel tune`: {"type",
// "weights": {name: w}, "tuned": {provenance}}.
std::filesystem::path tuned_file(const std::filesystem::path& models, const std::string& type);

}  // namespace funnel::fusion
