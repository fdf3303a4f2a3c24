// MODELS/<stage>/fusion.json: the fitted fusion weight of a scoring stage.
#include <cmath>
#include <fstream>

#include "core/config_util.h"
#include "funnel/error.h"
#include "funnel/fusion.h"
#include "util/fs.h"

namespace funnel {
using nlohmann::json;

RecallFusion read_fusion_file(const std::filesystem::path& path) {
  const std::string where = path.string();
  std::ifstream in(path);
  if (!in) throw Error(where + ": cannot open");
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(where + ": expected a JSON object");
  if (!j.contains("recall_weight")) throw Error(where + ": field 'recall_weight': missing");
  RecallFusion f;
  f.weight = detail::get_weight(j, "recall_weight", where, 0);
  f.hybrid_weight = detail::get_weight(j, "recall_weight_hybrid", where, std::nan(""));
  if (j.contains("recall_channel")) f.channel = detail::get_string(j, "recall_channel", where);
  return f;
}

void write_fusion_file(const std::filesystem::path& path, const RecallFusion& f, const json& provenance) {
  auto valid = [](double w) { return std::isfinite(w) && w >= 0; };
  if (!valid(f.weight) || (!std::isnan(f.hybrid_weight) && !valid(f.hybrid_weight)))
    throw Error(path.string() + ": fusion weights must be finite and >= 0");
  json j = provenance.is_object() ? provenance : json::object();
  j["recall_weight"] = f.weight;
  if (!std::isnan(f.hybrid_weight)) j["recall_weight_hybrid"] = f.hybrid_weight;
  j["recall_channel"] = f.channel;
  detail::AtomicFile out(path);
  out.stream() << j.dump(2) << '\n';
  out.commit();
}

RecallFusion apply_fusion_config(RecallFusion f, const json& cfg, const std::string& where) {
  if (cfg.contains("recall_weight")) {
    f.weight = detail::get_weight(cfg, "recall_weight", where, 0);
    f.hybrid_weight = std::nan("");
  }
  if (cfg.contains("recall_channel")) f.channel = detail::get_string(cfg, "recall_channel", where);
  return f;
}

}  // namespace funnel
