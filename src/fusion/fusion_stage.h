// The multi-objective fusion stages: after the rank stage, they combine each
// candidate's inputs (its score and pXtr, fusion_inputs.h) into one score
// and reorder the candidates by it (ties: the lower row first). Types:
//   formula        weighted sum, or product of powers, of the inputs
//   ensemble_sort  weighted sum of each input's rank mapped to a score
//   gbdt           XGBoost trees over inputs and features (`funnel fit --stage fusion --method gbdt`)
//   ltr            a linear combination learned pairwise on logged outcomes (`--method ltr`)
// Common config: {"type", "name", "keep" (default: all), "models" (default:
// the index's), "weights": {input: w} | "tuned"}; per request
// {"weights": {input: w}} replaces the named weights. Weights come from the
// config's object, else (absent or "tuned") from MODELS/fusion/<type>.tuned.json
// written by `funnel tune`, else the type's defaults; "tuned" without that
// file is an error. docs/fusion.md has the formulas.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "funnel/stage.h"
#include "fusion/fusion_inputs.h"

namespace funnel::fusion {

class FusionStage : public Stage {
 public:
  void run(const StageContext& ctx, std::vector<Candidate>& candidates) const final;
  StageRole role() const final { return StageRole::kFusion; }
  // {"type", "weights", "weights_source"} plus the type's own settings.
  nlohmann::json info() const override;

 protected:
  // Reads the common fields; `extra_keys` are the type's own config keys;
  // `defaults` the weights when neither the config nor a tuned file gives any.
  FusionStage(const nlohmann::json& cfg, const Index& index, const std::string& where, std::string type,
              std::vector<const char*> extra_keys, const NamedWeights& defaults);
  // Writes the fused score of each candidate into out (same order).
  virtual void combine(const StageContext& ctx, std::span<const Candidate> cands, const NamedWeights& weights,
                       std::span<double> out) const = 0;
  // The weight names and values as two arrays, for the formulas, and the
  // candidates' inputs for those names (n x names.size(), fusion_inputs.h).
  static void split(const NamedWeights& w, std::vector<std::string>& names, std::vector<double>& values);
  static std::vector<float> weighted_inputs(const StageContext& ctx, std::span<const Candidate> cands,
                                            const NamedWeights& weights, std::vector<std::string>& names,
                                            std::vector<double>& values);

  std::string type_;
  std::filesystem::path models_;  // "" when neither the config nor the index names one
  NamedWeights weights_;
  std::string weights_source_;    // "config", a tuned file's path, or "default"
  std::size_t keep_ = 0;          // 0: all

 private:
  void resolve_weights(const nlohmann::json& cfg, const std::string& where, const NamedWeights& defaults);
};

std::unique_ptr<Stage> make_formula_stage(const nlohmann::json& cfg, const Index& index, const std::string& where);
std::unique_ptr<Stage> make_ensemble_sort_stage(const nlohmann::json& cfg, const Index& index, const std::string& where);

// The hand weights the formula and ensemble_sort stages start from when
// the config gives none (docs/fusion.md says why these).
const NamedWeights& default_hand_weights();

}  // namespace funnel::fusion
