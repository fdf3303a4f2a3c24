// Fusion stage types "gbdt" and "ltr": combinations learned from logged
// outcomes by `funnel fit --stage fusion` (fusion_train.cc).
//   gbdt: score = the trees' margin + sum_j w_j x_j (the weights, none by
//         default, add hand terms on top of the trees)
//   ltr:  score = sum_j w_j x_j, the weights learned pairwise (ltr.json)
#include <fstream>

#include "core/config_util.h"
#include "funnel/error.h"
#include "fusion/formulas.h"
#include "fusion/fusion_stage.h"
#include "fusion/gbdt.h"
#include "fusion/learned_stages.h"
#include "fusion/pairwise_ltr.h"

namespace funnel::fusion {
namespace fs = std::filesystem;
using nlohmann::json;

fs::path gbdt_file(const fs::path& models) { return models / "fusion" / "gbdt.json"; }
fs::path ltr_file(const fs::path& models) { return models / "fusion" / "ltr.json"; }

NamedWeights read_ltr_weights(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw Error(file.string() + ": not found (train it with funnel fit --stage fusion --method ltr)");
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("features") || !j["features"].is_array() || !j.contains("ltr"))
    throw Error(file.string() + ": expected {\"features\": [...], \"ltr\": {...}}");
  const LtrModel m = ltr_from_json(j["ltr"], file.string() + ": field 'ltr'");
  const auto names = j["features"];
  if (names.size() != m.weights.size())
    throw Error(file.string() + ": " + std::to_string(names.size()) + " features but " +
                std::to_string(m.weights.size()) + " weights");
  NamedWeights w;
  for (std::size_t k = 0; k < names.size(); ++k) {
    if (!names[k].is_string()) throw Error(file.string() + ": field 'features': expected strings");
    w.emplace_back(names[k].get<std::string>(), m.weights[k]);
  }
  std::sort(w.begin(), w.end());
  return w;
}

namespace {

fs::path models_of(const json& cfg, const Index& index, const std::string& where) {
  const fs::path m = cfg.contains("models") ? fs::path(detail::get_string(cfg, "models", where)) : fs::path(index.models_dir());
  if (m.empty()) throw Error(where + ": field 'models': needed (the index names no models folder)");
  return m;
}

class GbdtStage final : public FusionStage {
 public:
  GbdtStage(const json& cfg, const Index& index, const std::string& where)
      : FusionStage(cfg, index, where, "gbdt", {}, {}),
        model_(std::make_shared<GbdtModel>(GbdtModel::load(gbdt_file(models_of(cfg, index, where))))) {}

  json info() const override {
    json j = FusionStage::info();
    j["features"] = model_->feature_names();
    return j;
  }

 private:
  void combine(const StageContext& ctx, std::span<const Candidate> cands, const NamedWeights& weights,
               std::span<double> out) const override {
    const auto& names = model_->feature_names();
    const std::vector<float> x = fusion_features(ctx.index, ctx.request, cands, names, ctx.where());
    const std::vector<float> margin = model_->predict(x, cands.size(), true);
    for (std::size_t i = 0; i < cands.size(); ++i) out[i] = margin[i];
    if (weights.empty()) return;
    std::vector<std::string> wn;
    std::vector<double> wv;
    const std::vector<float> x_extra = weighted_inputs(ctx, cands, weights, wn, wv);
    std::vector<double> extra(cands.size());
    weighted_sum(x_extra, wn.size(), wv, extra);
    for (std::size_t i = 0; i < cands.size(); ++i) out[i] += extra[i];
  }

  std::shared_ptr<const GbdtModel> model_;
};

class LtrStage final : public FusionStage {
 public:
  LtrStage(const json& cfg, const Index& index, const std::string& where)
      : FusionStage(cfg, index, where, "ltr", {}, learned(cfg, index, where)) {}

 private:
  // The learned weights: the defaults when neither the config nor a tuned
  // file gives weights (the file must exist either way: it is the model).
  static NamedWeights learned(const json& cfg, const Index& index, const std::string& where) {
    return read_ltr_weights(ltr_file(models_of(cfg, index, where)));
  }

  void combine(const StageContext& ctx, std::span<const Candidate> cands, const NamedWeights& weights,
               std::span<double> out) const override {
    std::vector<std::string> names;
    std::vector<double> w;
    const std::vector<float> x = weighted_inputs(ctx, cands, weights, names, w);
    weighted_sum(x, names.size(), w, out);
  }
};

}  // namespace

std::unique_ptr<Stage> make_gbdt_stage(const json& cfg, const Index& index, const std::string& where) {
  return std::make_unique<GbdtStage>(cfg, index, where);
}

std::unique_ptr<Stage> make_ltr_stage(const json& cfg, const Index& index, const std::string& where) {
  return std::make_unique<LtrStage>(cfg, index, where);
}

}  // namespace funnel::fusion
