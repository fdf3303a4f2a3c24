// Stage type "truncate": keeps the first `keep` candidates (a per-stage
// budget). Config: {"type": "truncate", "keep": N}, N >= 1.
#pragma once

#include <memory>
#include <string>

#include "funnel/stage.h"

namespace funnel::detail {

std::unique_ptr<Stage> make_truncate_stage(const nlohmann::json& config, const Index& index, const std::string& where);

}  // namespace funnel::detail
