// Channel type "ann" as the recall stage builds it from an index: the FAISS
// index INDEX/ann.faiss searched with the pre-rank model's query tower
// (config: {"type": "ann", "quota": N, "ef_search": 128, "nprobe": 16}).
#pragma once

#include <memory>
#include <string>

#include "funnel/recall.h"
#include "funnel/stage.h"

namespace funnel::recall {

std::unique_ptr<RecallChannel> make_ann_channel(const Index& index, const nlohmann::json& config, const std::string& where);

}  // namespace funnel::recall
