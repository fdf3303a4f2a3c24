// The built-in stage and channel types. The model-backed ones (prerank,
// rank, ann) come from add_model_stage_types(), which a build without the
// model runtime replaces (model_stage_types_none.cc).
#include "core/registry.h"
#include "core/truncate_stage.h"
#include "recall/recall_stage.h"

namespace funnel::detail {

void add_builtin_stage_types(std::map<std::string, StageFactory>& stages,
                             std::map<std::string, ChannelFactory>& channels) {
  stages["recall"] = recall::make_recall_stage;
  stages["truncate"] = make_truncate_stage;
  add_model_stage_types(stages, channels);
}

}  // namespace funnel::detail
