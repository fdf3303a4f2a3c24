#include "nn/model_files.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "funnel/error.h"
#include "util/hash.h"

namespace funnel::nn {
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(p.string() + ": cannot read");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

void require_files(const fs::path& dir, std::initializer_list<const char*> files, const std::string& hint) {
  for (const char* f : files)
    if (!fs::is_regular_file(dir / f)) throw Error((dir / f).string() + ": missing (" + hint + ")");
}

nlohmann::json read_json_file(const fs::path& file) {
  try {
    return nlohmann::json::parse(slurp(file));
  } catch (const nlohmann::json::exception& e) {
    throw Error(file.string() + ": malformed JSON (" + e.what() + ")");
  }
}

std::string model_id(const std::string& prefix, const fs::path& weights, const fs::path& config) {
  char id[32];
  std::snprintf(id, sizeof id, "%016llx",
                static_cast<unsigned long long>(detail::stable_hash(slurp(weights)) ^ detail::stable_hash(slurp(config))));
  return prefix + "-" + id;
}

}  // namespace funnel::nn
