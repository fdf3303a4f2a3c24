// The learned fusion stage types (gbdt, ltr) and their model files,
// written by `funnel fit --stage fusion` and read by the stages.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "funnel/stage.h"
#include "fusion/fusion_inputs.h"

namespace funnel::fusion {

// MODELS/fusion/gbdt.json (the GbdtModel file, fusion/gbdt.h).
std::filesystem::path gbdt_file(const std::filesystem::path& models);
// MODELS/fusion/ltr.json: {"features": [input names], "ltr": the LtrModel
// (fusion/pairwise_ltr.h), "objective_weights": {...}, "trained": {...}}.
std::filesystem::path ltr_file(const std::filesystem::path& models);
// The learned weights of ltr.json by input name. Throws funnel::Error naming the file.
NamedWeights read_ltr_weights(const std::filesystem::path& file);

std::unique_ptr<Stage> make_gbdt_stage(const nlohmann::json& cfg, const Index& index, const std::string& where);
std::unique_ptr<Stage> make_ltr_stage(const nlohmann::json& cfg, const Index& index, const std::string& where);

}  // namespace funnel::fusion
