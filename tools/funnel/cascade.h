// Loads the cascade for a CLI command: a config file if given, else the
// built-in default (BM25 recall -> truncation).
#pragma once

#include <string>

#include "funnel/pipeline.h"

namespace funnel::cli {

inline nlohmann::json load_cascade(const std::string& path, std::size_t k, std::string& where) {
  if (path.empty()) {
    where = "default cascade";
    return default_cascade(std::max<std::size_t>(1000, k), k);
  }
  where = path;
  return read_cascade_config(path);
}

}  // namespace funnel::cli
