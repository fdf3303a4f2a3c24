#include "fusion/fusion_inputs.h"

#include <algorithm>
#include <cmath>

#include "funnel/error.h"

namespace funnel::fusion {
using nlohmann::json;

NamedWeights parse_weights(const json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected an object {input: weight}");
  NamedWeights w;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number() || !std::isfinite(it.value().get<double>()))
      throw Error(where + ": the weight of '" + it.key() + "' must be a finite number");
    w.emplace_back(it.key(), it.value().get<double>());
  }
  std::sort(w.begin(), w.end());
  return w;
}

json weights_to_json(const NamedWeights& w) {
  json j = json::object();
  for (const auto& [name, v] : w) j[name] = v;
  return j;
}

NamedWeights apply_weight_overrides(NamedWeights base, const json& overrides, const std::string& where) {
  for (const auto& [name, v] : parse_weights(overrides, where)) {
    auto it = std::find_if(base.begin(), base.end(), [&](const auto& p) { return p.first == name; });
    if (it != base.end()) it->second = v;
    else base.emplace_back(name, v);
  }
  std::sort(base.begin(), base.end());
  return base;
}

namespace {

std::size_t count_words(const std::string& s) {
  std::size_t n = 0;
  bool in = false;
  for (char c : s) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (!space && !in) ++n;
    in = !space;
  }
  return n;
}

}  // namespace

std::vector<float> fusion_features(const Index& index, const Request& request, std::span<const Candidate> cands,
                                   std::span<const std::string> names, const std::string& where) {
  const std::size_t n = cands.size(), m = names.size();
  std::vector<float> x(n * m);
  if (n == 0) return x;
  const auto& pxtr_names = cands[0].pxtr_names;
  for (std::size_t j = 0; j < m; ++j) {
    const std::string& name = names[j];
    if (name == "score") {
      for (std::size_t i = 0; i < n; ++i) x[i * m + j] = static_cast<float>(cands[i].score);
    } else if (name == "query_terms") {
      const float q = static_cast<float>(count_words(request.query));
      for (std::size_t i = 0; i < n; ++i) x[i * m + j] = q;
    } else if (name == "position") {
      for (std::size_t i = 0; i < n; ++i) x[i * m + j] = static_cast<float>(i) / static_cast<float>(n);
    } else if (name.rfind("category=", 0) == 0) {
      const std::string cat = name.substr(9);
      const auto& cats = index.category_names();
      const auto it = std::find(cats.begin(), cats.end(), cat);
      const std::uint32_t id = it == cats.end() ? UINT32_MAX : static_cast<std::uint32_t>(it - cats.begin());
      for (std::size_t i = 0; i < n; ++i) x[i * m + j] = index.category_id(cands[i].row) == id ? 1.0f : 0.0f;
    } else {
      std::size_t t = pxtr_names ? std::find(pxtr_names->begin(), pxtr_names->end(), name) - pxtr_names->begin() : 0;
      if (!pxtr_names || t == pxtr_names->size()) {
        std::string known = "score, query_terms, position, category=NAME";
        if (pxtr_names)
          for (const auto& p : *pxtr_names) known += ", " + p;
        else
          known += " (no pXtr: is there a rank stage before this one?)";
        throw Error(where + ": no input '" + name + "' (inputs: " + known + ")");
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (cands[i].pxtr.size() != pxtr_names->size())
          throw Error(where + ": candidate row " + std::to_string(cands[i].row) + " has no pXtr");
        x[i * m + j] = cands[i].pxtr[t];
      }
    }
  }
  return x;
}

std::filesystem::path tuned_file(const std::filesystem::path& models, const std::string& type) {
  return models / "fusion" / (type + ".tuned.json");
}

}  // namespace funnel::fusion
