// The stage and channel type registries (funnel/stage.h), as the pipeline
// and the built-in list see them.
#pragma once

#include <map>
#include <string>

#include "funnel/stage.h"

namespace funnel::detail {

// The factory registered for a stage type, or an empty function.
StageFactory find_stage_type(const std::string& type);

// The built-in types, added to the registries on first use
// (builtin_stages.cc): recall, truncate and, in a build with the model
// runtime, prerank, rank and the ann channel (model_stage_types.cc).
void add_builtin_stage_types(std::map<std::string, StageFactory>& stages,
                             std::map<std::string, ChannelFactory>& channels);
void add_model_stage_types(std::map<std::string, StageFactory>& stages,
                           std::map<std::string, ChannelFactory>& channels);

}  // namespace funnel::detail
