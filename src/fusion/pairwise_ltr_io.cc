// The pairwise LTR model at serving time: its score and its JSON form.
#include <cmath>

#include "core/config_util.h"
#include "funnel/error.h"
#include "fusion/pairwise_ltr.h"

namespace funnel::fusion {
using nlohmann::json;

namespace {

constexpr const char* kFormat = "funnel-pairwise-ltr";
constexpr int kVersion = 1;

std::vector<double> numbers(const json& j, const char* key, const std::string& where) {
  const std::string field = where + ": field '" + key + "'";
  auto it = j.find(key);
  if (it == j.end()) throw Error(field + ": missing");
  if (!it->is_array() || it->empty()) throw Error(field + ": expected a non-empty array of numbers");
  std::vector<double> out;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    if (!v.is_number() || !std::isfinite(v.get<double>()))
      throw Error(where + ": field '" + key + "[" + std::to_string(i) + "]': expected a finite number, got " +
                  v.dump());
    out.push_back(v.get<double>());
  }
  return out;
}

}  // namespace

double ltr_score(const LtrModel& model, std::span<const float> x_row) {
  if (x_row.size() != model.weights.size())
    throw Error("ltr_score: the row has " + std::to_string(x_row.size()) + " features, the model " +
                std::to_string(model.weights.size()));
  double s = 0;
  for (std::size_t k = 0; k < x_row.size(); ++k) s += model.weights[k] * x_row[k];
  return s;
}

json ltr_to_json(const LtrModel& model) {
  return json{{"format", kFormat}, {"version", kVersion}, {"weights", model.weights}, {"mean", model.mean},
              {"scale", model.scale}};
}

LtrModel ltr_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected an object (a pairwise LTR model)");
  funnel::detail::check_keys(j, {"format", "version", "weights", "mean", "scale"}, where);
  if (!j.contains("format") || j["format"] != kFormat)
    throw Error(where + ": field 'format': expected \"" + kFormat + "\", got " +
                (j.contains("format") ? j["format"].dump() : "nothing"));
  if (!j.contains("version") || j["version"] != kVersion)
    throw Error(where + ": field 'version': expected " + std::to_string(kVersion) + ", got " +
                (j.contains("version") ? j["version"].dump() : "nothing"));
  LtrModel m;
  m.weights = numbers(j, "weights", where);
  m.mean = numbers(j, "mean", where);
  m.scale = numbers(j, "scale", where);
  if (m.mean.size() != m.weights.size() || m.scale.size() != m.weights.size())
    throw Error(where + ": fields 'weights', 'mean', 'scale': expected one number per feature each, got " +
                std::to_string(m.weights.size()) + ", " + std::to_string(m.mean.size()) + " and " +
                std::to_string(m.scale.size()));
  for (std::size_t i = 0; i < m.scale.size(); ++i)
    if (m.scale[i] < 0)
      throw Error(where + ": field 'scale[" + std::to_string(i) + "]': expected a number >= 0, got " +
                  j["scale"][i].dump());
  return m;
}

}  // namespace funnel::fusion
