// Stage type "prerank": the query tower encodes the request once, the
// serving scorer (funnel/prerank_scorer.h, no libtorch) scores every
// candidate from the index's embedding store, the score is fused with the
// BM25 score (funnel/fusion.h, weight fitted by `funnel fit`) and the best
// `keep` are kept. Config: {"type": "prerank", "keep": 200, "models": DIR,
// "recall_weight": W, "recall_channel": "bm25"} (docs/formats.md).
// Torch-free header.
#pragma once

#include <memory>
#include <string>

#include "funnel/stage.h"

namespace funnel::prerank {

std::unique_ptr<Stage> make_prerank_stage(const nlohmann::json& config, const Index& index, const std::string& where);

}  // namespace funnel::prerank
