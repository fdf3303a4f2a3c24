// Checked access to JSON config fields, with errors that name the place.
#pragma once

#include <initializer_list>
#include <string>

#include <map>

#include <nlohmann/json.hpp>

#include "funnel/pipeline.h"

namespace funnel::detail {

// Throws funnel::Error if `obj` is not an object or has a key not in `allowed`.
void check_keys(const nlohmann::json& obj, std::initializer_list<const char*> allowed,
                const std::string& where);
std::string get_string(const nlohmann::json& obj, const char* key, const std::string& where);
// A non-negative integer; `fallback` when the key is absent.
std::size_t get_size(const nlohmann::json& obj, const std::string& key, const std::string& where,
                     std::size_t fallback);

// Adds the built-in stage types (recall, truncate) to a registry.
void add_builtin_stages(std::map<std::string, StageFactory>& registry);

}  // namespace funnel::detail

namespace funnel {
// The factory registered for a channel type, or an empty function.
ChannelFactory detail_find_channel_factory(const std::string& type);
}  // namespace funnel

namespace funnel::detail {

}  // namespace funnel::detail
