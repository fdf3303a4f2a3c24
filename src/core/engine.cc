#include "funnel/engine.h"

namespace funnel {

Engine::Engine(const std::filesystem::path& index_dir, const nlohmann::json& cascade, const std::string& where)
    : pipeline_(std::make_shared<const Pipeline>(Index::open(index_dir), cascade, where)) {}

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
