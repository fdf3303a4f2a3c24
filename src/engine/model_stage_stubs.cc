// The model-backed stage types as libfunnel_core knows them: names that
// refuse to be built, saying why. Loading libfunnel (the model runtime)
// replaces them with the real ones (model_stage_types.cc); a program that
// links libfunnel_core alone (the ThreadSanitizer build, FUNNEL_TORCH=OFF)
// gets these.
#include "core/registry.h"
#include "funnel/error.h"

namespace funnel::detail {

void add_model_stage_stubs(std::map<std::string, StageFactory>& stages,
                           std::map<std::string, ChannelFactory>& channels) {
  for (const char* type : {"prerank", "rank"})
    stages[type] = [type](const nlohmann::json&, const Index&, const std::string& where) -> std::unique_ptr<Stage> {
      throw Error(where + ": stage type '" + type + "' needs the model runtime: link libfunnel (funnel::funnel), not libfunnel_core alone");
    };
  channels["ann"] = [](const Index&, const nlohmann::json&, const std::string& where) -> std::unique_ptr<RecallChannel> {
    throw Error(where + ": channel type 'ann' needs the model runtime: link libfunnel (funnel::funnel), not libfunnel_core alone");
  };
}

}  // namespace funnel::detail
