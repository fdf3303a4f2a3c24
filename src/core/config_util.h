// Checked access to JSON config fields, with errors that name the place.
#pragma once

#include <initializer_list>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

namespace funnel::detail {

// Throws funnel::Error if `obj` is not an object or has a key not in `allowed`.
void check_keys(const nlohmann::json& obj, std::initializer_list<const char*> allowed, const std::string& where);
void check_keys(const nlohmann::json& obj, std::span<const char* const> allowed, const std::string& where);
// A non-empty string; throws funnel::Error otherwise.
std::string get_string(const nlohmann::json& obj, const char* key, const std::string& where);
// A non-negative integer; `fallback` when the key is absent.
std::size_t get_size(const nlohmann::json& obj, const std::string& key, const std::string& where,
                     std::size_t fallback);
// A finite number >= 0; `fallback` when the key is absent.
double get_weight(const nlohmann::json& obj, const std::string& key, const std::string& where, double fallback);

}  // namespace funnel::detail
