#include "core/config_util.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "funnel/error.h"

namespace funnel::detail {
using nlohmann::json;

void check_keys(const json& obj, std::span<const char* const> allowed, const std::string& where) {
  if (!obj.is_object()) throw Error(where + ": expected an object");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return it.key() == a; });
    if (!ok) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      throw Error(where + ": unknown field '" + it.key() + "' (expected one of: " + list + ")");
    }
  }
}

void check_keys(const json& obj, std::initializer_list<const char*> allowed, const std::string& where) {
  check_keys(obj, std::span<const char* const>(allowed.begin(), allowed.size()), where);
}

std::string get_string(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string() || it->get<std::string>().empty())
    throw Error(where + ": field '" + key + "': expected a non-empty string");
  return it->get<std::string>();
}

std::size_t get_size(const json& obj, const std::string& key, const std::string& where, std::size_t fallback) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_number_integer() || it->get<long long>() < 0)
    throw Error(where + ": field '" + key + "': expected an integer >= 0, got " + it->dump());
  return it->get<std::size_t>();
}

double get_weight(const json& obj, const std::string& key, const std::string& where, double fallback) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0)
    throw Error(where + ": field '" + key + "': expected a finite number >= 0, got " + it->dump());
  return it->get<double>();
}

}  // namespace funnel::detail
