// Stage type "recall": runs the configured recall channels with their
// quotas and merges their hits into one candidate list (config:
// {"type": "recall", "channels": [{"type": "bm25", "quota": 1000}, ...],
// "keep": N}; docs/formats.md).
#pragma once

#include <memory>
#include <string>

#include "funnel/stage.h"

namespace funnel::recall {

std::unique_ptr<Stage> make_recall_stage(const nlohmann::json& config, const Index& index, const std::string& where);

}  // namespace funnel::recall
