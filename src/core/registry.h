// The stage and channel type registries (funnel/stage.h), as the pipeline
// and the built-in list see them.
#pragma once

#include <map>
#include <string>

#include "funnel/stage.h"

namespace funnel::detail {

// The factory registered for a stage type, or an empty function.
StageFactory find_stage_type(const std::string& type);

// The built-in types, added to the registries on first use. They are
// defined above the stages, in src/engine/ (the one place that knows every
// stage folder): recall and truncate (builtin_stages.cc), and stand-ins for
// the model stage types (prerank, rank, the ann channel) that say they need
// the model runtime (model_stage_stubs.cc) until libfunnel registers the
// real ones (register_model_stage_types, model_stage_types.cc).
void add_builtin_stage_types(std::map<std::string, StageFactory>& stages,
                             std::map<std::string, ChannelFactory>& channels);
void add_model_stage_stubs(std::map<std::string, StageFactory>& stages,
                           std::map<std::string, ChannelFactory>& channels);
// Registers prerank, rank and ann (libfunnel only). Idempotent; libfunnel
// also calls it when it is loaded, and Engine before it builds a pipeline.
void register_model_stage_types();

}  // namespace funnel::detail
