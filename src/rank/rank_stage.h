// Stage type "rank": the cross ranker scores every candidate it receives in
// one batch, sets each candidate's pXtr, fuses its score with the BM25
// score (funnel/fusion.h, weight fitted by `funnel fit --stage rank`) and
// keeps the best `keep`. Config: {"type": "rank", "keep": 100, "models": DIR,
// "corpus": PATH, "score_weights": {task: weight}, "recall_weight": W,
// "recall_channel": "bm25"}; the score is the sum of score_weights x head
// logits (docs/formats.md). Torch-free header.
#pragma once

#include <memory>
#include <string>

#include "funnel/stage.h"

namespace funnel::rank {

std::unique_ptr<Stage> make_rank_stage(const nlohmann::json& config, const Index& index, const std::string& where);

}  // namespace funnel::rank
