// Stage and channel types by name, and the process-wide channel bits. The
// built-ins are added on first use, so that linking the engine as a static
// library cannot drop them the way it drops unreferenced self-registering
// objects.
#include "core/registry.h"

#include <algorithm>
#include <mutex>

#include "funnel/error.h"

namespace funnel {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, StageFactory> stages;
  std::map<std::string, ChannelFactory> channels;
  std::vector<std::string> bits;  // channel name of each bit
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;  // never destroyed: stages may be built during static destruction
    detail::add_builtin_stage_types(reg->stages, reg->channels);
    return reg;
  }();
  return *r;
}

}  // namespace

void register_stage_type(const std::string& type, StageFactory factory) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.stages[type] = std::move(factory);
}

std::vector<std::string> stage_types() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> out;
  for (const auto& [name, f] : r.stages) out.push_back(name);
  return out;
}

void register_channel_type(const std::string& type, ChannelFactory factory) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.channels[type] = std::move(factory);
}

ChannelFactory find_channel_type(const std::string& type) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.channels.find(type);
  return it == r.channels.end() ? ChannelFactory() : it->second;
}

std::uint32_t channel_bit(const std::string& name) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = std::find(r.bits.begin(), r.bits.end(), name);
  if (it != r.bits.end()) return static_cast<std::uint32_t>(it - r.bits.begin());
  if (r.bits.size() >= 32) throw Error("at most 32 distinct recall channel names");
  r.bits.push_back(name);
  return static_cast<std::uint32_t>(r.bits.size() - 1);
}

std::string channel_name_of_bit(std::uint32_t bit) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  return bit < r.bits.size() ? r.bits[bit] : "?";
}

namespace detail {
StageFactory find_stage_type(const std::string& type) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.stages.find(type);
  return it == r.stages.end() ? StageFactory() : it->second;
}
}  // namespace detail

}  // namespace funnel
