// Cascade configs: the built-in default and reading one from a file
// (docs/formats.md, "Cascade config").
#include <fstream>

#include "funnel/error.h"
#include "funnel/pipeline.h"

namespace funnel {
using nlohmann::json;

json default_cascade(std::size_t recall_k, std::size_t keep) {
  return {{"stages",
           {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", recall_k}}}}},
            {{"name", "truncate"}, {"type", "truncate"}, {"keep", keep}}}}};
}

json read_cascade_config(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) throw Error(path.string() + ": cascade config not found (or not a file)");
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open cascade config");
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw Error(path.string() + ": malformed JSON (" + e.what() + ")");
  }
}

}  // namespace funnel
