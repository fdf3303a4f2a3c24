// A build without the model runtime (FUNNEL_TORCH=OFF, e.g. the
// ThreadSanitizer build of the serving core): the model-backed stage types
// exist but refuse to be built, with an error that says why.
#include "core/registry.h"
#include "funnel/error.h"

namespace funnel::detail {

void add_model_stage_types(std::map<std::string, StageFactory>& stages,
                           std::map<std::string, ChannelFactory>& channels) {
  for (const char* type : {"prerank", "rank"})
    stages[type] = [type](const nlohmann::json&, const Index&, const std::string& where) -> std::unique_ptr<Stage> {
      throw Error(where + ": stage type '" + type + "' needs the model runtime, which this build leaves out (FUNNEL_TORCH=OFF)");
    };
  channels["ann"] = [](const Index&, const nlohmann::json&, const std::string& where) -> std::unique_ptr<RecallChannel> {
    throw Error(where + ": channel type 'ann' needs the model runtime, which this build leaves out (FUNNEL_TORCH=OFF)");
  };
}

}  // namespace funnel::detail
