// One serving version: the opened index and every cascade built over it,
// immutable once loaded, shared by the requests that started on it
// (include/funnel/server.h says how versions are switched).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "funnel/server.h"

namespace funnel::serve {

struct ServingState {
  struct Cascade {
    std::string name;  // the config file's stem, or "default"
    std::shared_ptr<const Pipeline> pipeline;
  };
  std::uint64_t generation = 0;  // 1 for the first version, +1 per reload
  std::shared_ptr<const Index> index;
  std::vector<Cascade> cascades;  // [0] is the default
  // The user ids a request may name; null: any.
  std::shared_ptr<const std::unordered_set<std::string>> users;
  // {"generation", "store_version", "ann_store_version", "models": {...},
  //  "loaded_at"}: what /v1/info, /metrics and every response report.
  nlohmann::json version;

  // The cascade called `name` ("" : the default), or nullptr.
  const Cascade* find(const std::string& name) const;
  // The names, comma-separated, for error messages.
  std::string cascade_names() const;
};

// Loads a version from `options` (index, configs, users) and checks it:
// every cascade answers a probe request (the first doc's title as the
// query). Throws funnel::Error naming what failed. Needs libfunnel (the
// model stages).
std::shared_ptr<const ServingState> load_serving_state(const ServerOptions& options, std::uint64_t generation,
                                                       std::shared_ptr<const std::unordered_set<std::string>> users);
// Reads the user ids of a users.jsonl ("id" or "user_id" per line).
std::shared_ptr<const std::unordered_set<std::string>> read_user_ids(const std::filesystem::path& file);

// GET /v1/info's body: {"version", "index": {"path", "docs"},
// "default_cascade", "cascades": [{"name", "stages": [{"name", "type",
// "optional", "info"}]}]}.
nlohmann::json info_json(const ServingState& state);

}  // namespace funnel::serve
