// The embeddable engine: one object that opens an index folder (and, through
// it, the models it was built with), builds a cascade over it with every
// built-in stage type and recall channel available, and answers requests.
//
//   funnel::Engine engine("var/demo/index", funnel::read_cascade_config("configs/demo-full.json"));
//   funnel::Response r = engine.search("peppa pig", 10);
//
// Thread-safe: run() and search() may be called concurrently.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "funnel/pipeline.h"

namespace funnel {

class Engine {
 public:
  // Opens `index_dir` and builds `cascade` (default: BM25 recall ->
  // truncate) over it; `where` names the cascade in errors. Model stages
  // load the models folder the index names (or the config's "models").
  // Throws funnel::Error naming the file or config place at fault.
  explicit Engine(const std::filesystem::path& index_dir, const nlohmann::json& cascade = default_cascade(),
                  const std::string& where = "cascade config");
  // The same over an index already opened (several cascades may share it).
  Engine(std::shared_ptr<const Index> index, const nlohmann::json& cascade, const std::string& where = "cascade config");
  // The same with the cascade read from a JSON file.
  static Engine from_files(const std::filesystem::path& index_dir, const std::filesystem::path& cascade_file);

  // Runs one request through the cascade. Throws funnel::Error on a bad
  // request.
  Response run(const Request& request) const { return pipeline_->run(request); }
  // run() with a plain query and k.
  Response search(const std::string& query, std::size_t k = 10) const;

  const Pipeline& pipeline() const { return *pipeline_; }
  // The pipeline, shared: it outlives the Engine while someone holds it.
  std::shared_ptr<const Pipeline> pipeline_ptr() const { return pipeline_; }
  const Index& index() const { return pipeline_->index(); }

 private:
  std::shared_ptr<const Pipeline> pipeline_;
};

}  // namespace funnel
