// The trained two-tower model behind the engine's encoder interfaces: the
// doc tower as a DocEncoder (offline, `funnel index --models`) and the query
// tower as a QueryEncoder (online, the ANN channel). Torch-free header.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "funnel/ann.h"
#include "funnel/index.h"
#include "funnel/prerank_scorer.h"
#include "prerank/prerank_model.h"

namespace funnel::prerank {

// Loads MODELS/prerank. Throws funnel::Error naming the missing or damaged file.
std::unique_ptr<DocEncoder> make_doc_encoder(const std::filesystem::path& models_dir);

// Loads MODELS/prerank and refuses (funnel::Error naming `where`) a model
// other than `expected_model_id`, the one the index's embeddings were
// encoded with.
std::unique_ptr<PrerankModel> load_matching_model(const std::filesystem::path& models_dir,
                                                  const std::string& expected_model_id, const std::string& where);

// The model's query tower. Thread-safe: encode() serialises the tower's passes.
std::shared_ptr<const QueryEncoder> make_query_encoder(std::unique_ptr<PrerankModel> model);

// The serving scorer's options for the model's matcher (its temperature and,
// for esim, its matching layer).
ScorerOptions scorer_options(const PrerankModel& model, const std::string& where);

}  // namespace funnel::prerank
