// Registers the model-backed pieces of the cascade (torch-free header):
//   stage type "prerank": the query tower encodes the request once, then the
//   serving scorer scores every candidate from the index's embedding store
//   and keeps the best `keep`.
#pragma once

#include <filesystem>
#include <memory>

#include "funnel/index.h"

namespace funnel::model {

// Call once at start-up (the CLI does) before building pipelines.
void register_model_stages();

// A DocEncoder over a trained pre-rank model, for `funnel index --models`.
std::unique_ptr<DocEncoder> make_doc_encoder(const std::filesystem::path& models_dir);

}  // namespace funnel::model
