// The built-in stage and channel types of libfunnel_core. The model-backed
// ones (prerank, rank, ann) start as stand-ins that libfunnel replaces.
#include "core/registry.h"
#include "core/truncate_stage.h"
#include "recall/recall_stage.h"

namespace funnel::detail {

void add_builtin_stage_types(std::map<std::string, StageFactory>& stages,
                             std::map<std::string, ChannelFactory>& channels) {
  stages["recall"] = recall::make_recall_stage;
  stages["truncate"] = make_truncate_stage;
  add_model_stage_stubs(stages, channels);
}

}  // namespace funnel::detail
