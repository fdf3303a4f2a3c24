#include "serve/serving_state.h"

#include "data/jsonl.h"
#include "funnel/error.h"

namespace funnel::serve {
namespace fs = std::filesystem;
using nlohmann::json;

const ServingState::Cascade* ServingState::find(const std::string& name) const {
  if (name.empty()) return cascades.empty() ? nullptr : &cascades.front();
  for (const auto& c : cascades)
    if (c.name == name) return &c;
  return nullptr;
}

std::string ServingState::cascade_names() const {
  std::string out;
  for (const auto& c : cascades) out += (out.empty() ? "" : ", ") + c.name;
  return out;
}

std::shared_ptr<const std::unordered_set<std::string>> read_user_ids(const fs::path& file) {
  auto users = std::make_shared<std::unordered_set<std::string>>();
  detail::JsonlReader in(file);
  json obj;
  while (in.next(obj)) users->insert(in.id(obj, {"id", "user_id"}));
  if (users->empty()) throw Error(file.string() + ": no users");
  return users;
}

json info_json(const ServingState& s) {
  json cascades = json::array();
  for (const auto& c : s.cascades) {
    json stages = json::array();
    const auto names = c.pipeline->stage_names(), types = c.pipeline->stage_types();
    for (std::size_t i = 0; i < names.size(); ++i)
      stages.push_back({{"name", names[i]},
                        {"type", types[i]},
                        {"optional", c.pipeline->stage_optional(i)},
                        {"info", c.pipeline->stage_info(i)}});
    json cj = {{"name", c.name}, {"stages", stages}};
    if (c.pipeline->deadline_ms() > 0) cj["deadline_ms"] = c.pipeline->deadline_ms();
    cascades.push_back(std::move(cj));
  }
  return {{"version", s.version},
          {"index", {{"path", s.index->dir().string()}, {"docs", s.index->size()}}},
          {"default_cascade", s.cascades.empty() ? "" : s.cascades.front().name},
          {"cascades", cascades}};
}

}  // namespace funnel::serve
