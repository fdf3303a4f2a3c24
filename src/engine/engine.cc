// Part of libfunnel: the engine guarantees the model stage types.
#include "funnel/engine.h"

#include "core/registry.h"

namespace funnel {

namespace {
std::shared_ptr<const Pipeline> open_pipeline(const std::filesystem::path& index_dir, const nlohmann::json& cascade,
                                              const std::string& where) {
  detail::register_model_stage_types();
  return std::make_shared<const Pipeline>(Index::open(index_dir), cascade, where);
}
}  // namespace

Engine::Engine(std::shared_ptr<const Index> index, const nlohmann::json& cascade, const std::string& where)
    : pipeline_([&] {
        detail::register_model_stage_types();
        return std::make_shared<const Pipeline>(std::move(index), cascade, where);
      }()) {}

Engine::Engine(const std::filesystem::path& index_dir, const nlohmann::json& cascade, const std::string& where)
    : pipeline_(open_pipeline(index_dir, cascade, where)) {}

Engine Engine::from_files(const std::filesystem::path& index_dir, const std::filesystem::path& cascade_file) {
  return Engine(index_dir, read_cascade_config(cascade_file), cascade_file.string());
}

Response Engine::search(const std::string& query, std::size_t k) const {
  Request r;
  r.query = query;
  r.k = k;
  return pipeline_->run(r);
}

}  // namespace funnel
