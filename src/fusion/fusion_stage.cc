#include "fusion/fusion_stage.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>

#include "core/config_util.h"
#include "funnel/error.h"
#include "funnel/fusion.h"
#include "fusion/formulas.h"

namespace funnel::fusion {
namespace fs = std::filesystem;
using nlohmann::json;

const NamedWeights& default_hand_weights() {
  // The rank stage's score (relevance fused with BM25) plus one unit per
  // engagement: what an engineer writes down before any tuning.
  static const NamedWeights w = {{"click", 1.0}, {"follow", 1.0}, {"like", 1.0},
                                 {"score", 1.0}, {"share", 1.0}, {"watch", 1.0}};
  return w;
}

FusionStage::FusionStage(const json& cfg, const Index& index, const std::string& where, std::string type,
                         std::vector<const char*> extra_keys, const NamedWeights& defaults)
    : type_(std::move(type)) {
  std::vector<const char*> keys = {"name", "type", "keep", "models", "weights"};
  keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
  detail::check_keys(cfg, std::span<const char* const>(keys), where);
  keep_ = detail::get_size(cfg, "keep", where, 0);
  models_ = cfg.contains("models") ? fs::path(detail::get_string(cfg, "models", where)) : fs::path(index.models_dir());
  resolve_weights(cfg, where, defaults);
}

void FusionStage::resolve_weights(const json& cfg, const std::string& where, const NamedWeights& defaults) {
  const bool want_tuned = cfg.contains("weights") && cfg["weights"].is_string();
  if (want_tuned && cfg["weights"].get<std::string>() != "tuned")
    throw Error(where + ": field 'weights': expected an object {input: weight} or \"tuned\"");
  if (cfg.contains("weights") && !want_tuned) {
    weights_ = parse_weights(cfg["weights"], where + ": field 'weights'");
    weights_source_ = "config";
    return;
  }
  const fs::path tuned = models_.empty() ? fs::path() : tuned_file(models_, type_);
  if (!tuned.empty() && fs::exists(tuned)) {
    std::ifstream in(tuned);
    json j = json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weights"))
      throw Error(tuned.string() + ": expected a JSON object with field 'weights' (written by funnel tune)");
    weights_ = parse_weights(j["weights"], tuned.string() + ": field 'weights'");
    weights_source_ = tuned.string();
    return;
  }
  if (want_tuned)
    throw Error(where + ": field 'weights': \"tuned\" but " +
                (tuned.empty() ? std::string("no models folder is known (give 'models')") : tuned.string() + " does not exist (run funnel tune)"));
  weights_ = defaults;
  weights_source_ = "default";
}

void FusionStage::split(const NamedWeights& w, std::vector<std::string>& names, std::vector<double>& values) {
  names.clear();
  values.clear();
  for (const auto& [n, v] : w) {
    names.push_back(n);
    values.push_back(v);
  }
}

std::vector<float> FusionStage::weighted_inputs(const StageContext& ctx, std::span<const Candidate> cands,
                                                const NamedWeights& weights, std::vector<std::string>& names,
                                                std::vector<double>& values) {
  split(weights, names, values);
  return fusion_features(ctx.index, ctx.request, cands, names, ctx.where());
}

json FusionStage::info() const {
  return {{"type", type_}, {"weights", weights_to_json(weights_)}, {"weights_source", weights_source_}};
}

void FusionStage::run(const StageContext& ctx, std::vector<Candidate>& cands) const {
  detail::check_keys(ctx.overrides, {"weights"}, ctx.where());
  const NamedWeights w = ctx.overrides.contains("weights")
                             ? apply_weight_overrides(weights_, ctx.overrides["weights"], ctx.where() + ".weights")
                             : weights_;
  std::vector<double> scores(cands.size());
  combine(ctx, cands, w, scores);
  for (std::size_t i = 0; i < cands.size(); ++i) cands[i].score = scores[i];
  std::sort(cands.begin(), cands.end(),
            [](const Candidate& a, const Candidate& b) { return ranks_before(a.score, a.row, b.score, b.row); });
  if (keep_ && cands.size() > keep_) cands.resize(keep_);
}

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// "formula": {"combine": "sum" | "product", "offsets": {input: a}}.
class FormulaStage final : public FusionStage {
 public:
  FormulaStage(const json& cfg, const Index& index, const std::string& where)
      : FusionStage(cfg, index, where, "formula", {"combine", "offsets"}, default_hand_weights()) {
    const std::string combine = cfg.contains("combine") ? detail::get_string(cfg, "combine", where) : "sum";
    if (combine != "sum" && combine != "product")
      throw Error(where + ": field 'combine': expected 'sum' or 'product', got '" + combine + "'");
    product_ = combine == "product";
    if (cfg.contains("offsets")) offsets_ = parse_weights(cfg["offsets"], where + ": field 'offsets'");
  }

  json info() const override {
    json j = FusionStage::info();
    j["combine"] = product_ ? "product" : "sum";
    if (product_) j["offsets"] = weights_to_json(offsets_);
    return j;
  }

 private:
  void combine(const StageContext& ctx, std::span<const Candidate> cands, const NamedWeights& weights,
               std::span<double> out) const override {
    std::vector<std::string> names;
    std::vector<double> w;
    std::vector<float> x = weighted_inputs(ctx, cands, weights, names, w);
    if (!product_) return weighted_sum(x, names.size(), w, out);
    // A product needs positive factors: unbounded inputs (the score and the
    // relevance logit) enter through a sigmoid.
    std::vector<double> a(names.size(), kDefaultOffset);
    for (std::size_t j = 0; j < names.size(); ++j) {
      for (const auto& [n, v] : offsets_)
        if (n == names[j]) a[j] = v;
      if (names[j] == "score" || names[j] == "relevance")
        for (std::size_t i = 0; i < cands.size(); ++i)
          x[i * names.size() + j] = static_cast<float>(sigmoid(x[i * names.size() + j]));
    }
    product_of_powers(x, names.size(), w, a, out);
  }

  static constexpr double kDefaultOffset = 0.01;
  bool product_ = false;
  NamedWeights offsets_;
};

// "ensemble_sort": {"transform": "reciprocal" | "normalised", "k": 60}.
class EnsembleSortStage final : public FusionStage {
 public:
  EnsembleSortStage(const json& cfg, const Index& index, const std::string& where)
      : FusionStage(cfg, index, where, "ensemble_sort", {"transform", "k"}, default_hand_weights()) {
    if (cfg.contains("transform"))
      transform_ = parse_rank_transform(detail::get_string(cfg, "transform", where), where + ": field 'transform'");
    k_ = detail::get_weight(cfg, "k", where, 60.0);
    if (transform_ == RankTransform::kReciprocal && k_ <= 0) throw Error(where + ": field 'k': must be > 0");
  }

  json info() const override {
    json j = FusionStage::info();
    j["transform"] = transform_ == RankTransform::kReciprocal ? "reciprocal" : "normalised";
    j["k"] = k_;
    return j;
  }

 private:
  void combine(const StageContext& ctx, std::span<const Candidate> cands, const NamedWeights& weights,
               std::span<double> out) const override {
    std::vector<std::string> names;
    std::vector<double> w;
    const std::vector<float> x = weighted_inputs(ctx, cands, weights, names, w);
    ensemble_sort(x, names.size(), w, transform_, k_, out);
  }

  RankTransform transform_ = RankTransform::kReciprocal;
  double k_ = 60;
};

}  // namespace

std::unique_ptr<Stage> make_formula_stage(const json& cfg, const Index& index, const std::string& where) {
  return std::make_unique<FormulaStage>(cfg, index, where);
}

std::unique_ptr<Stage> make_ensemble_sort_stage(const json& cfg, const Index& index, const std::string& where) {
  return std::make_unique<EnsembleSortStage>(cfg, index, where);
}

}  // namespace funnel::fusion
