// Stage type "rank": the cross ranker scores every candidate it receives
// (in one batch), sets each candidate's pXtr and keeps the best `keep`.
// Registered by register_model_stages() (model/prerank_stage.h).
// Torch-free header.
#pragma once

#include "funnel/pipeline.h"

namespace funnel::model {

// Builds a rank stage from its config object: {"type": "rank", "keep": N,
// "models": DIR, "corpus": PATH, "score_weights": {task: weight},
// "recall_weight": W, "recall_channel": "bm25"}. The score is the sum of
// score_weights x head logits, plus W x the candidate's recall-channel score
// / the request's best (W fitted on dev by `funnel fit --stage rank`).
std::unique_ptr<Stage> make_rank_stage(const nlohmann::json& cfg, const Index& index, const std::string& where);

}  // namespace funnel::model
