// The response's JSON form (docs/formats.md, "Response"), written by the
// CLI and read back by clients.
#include <map>

#include "funnel/error.h"
#include "funnel/pipeline.h"

namespace funnel {
using nlohmann::json;

json response_to_json(const Response& r, const Request& req) {
  json stages = json::array();
  for (const auto& t : r.trace) {
    json st = {{"name", t.name}, {"type", t.type}, {"in", t.in}, {"out", t.out}, {"ms", t.ms}};
    if (t.skipped) st["skipped"] = true;
    if (!t.notes.empty()) st["notes"] = t.notes;
    stages.push_back(std::move(st));
  }
  json items = json::array();
  for (std::size_t i = 0; i < r.items.size(); ++i) {
    const auto& it = r.items[i];
    json marks = json::array();
    for (const auto& m : it.marks) marks.push_back({{"stage", r.trace.at(m.stage).name}, {"score", m.score}, {"rank", m.rank}});
    json item{{"rank", i + 1}, {"id", it.doc_id}, {"title", it.title}, {"score", it.score},
              {"channels", it.channels}, {"stages", marks}};
    if (!it.pxtr.empty()) {
      json p = json::object();
      for (const auto& [name, v] : it.pxtr) p[name] = v;
      item["pxtr"] = p;
    }
    items.push_back(std::move(item));
  }
  return {{"query", req.query}, {"k", req.k}, {"items", items}, {"trace", stages}, {"total_ms", r.total_ms}};
}

namespace {

// Checked field access: every failure names the field's path.
std::string path(const std::string& where, const std::string& key) { return where.empty() ? key : where + "." + key; }
const json& field(const json& obj, const std::string& key, const std::string& where) {
  if (!obj.is_object()) throw Error("response: " + where + ": expected an object");
  auto it = obj.find(key);
  if (it == obj.end()) throw Error("response: " + path(where, key) + ": missing");
  return *it;
}
double number(const json& obj, const std::string& key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_number()) throw Error("response: " + path(where, key) + ": expected a number");
  return v.get<double>();
}
std::size_t count(const json& obj, const std::string& key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_number_unsigned()) throw Error("response: " + path(where, key) + ": expected an integer >= 0");
  return v.get<std::size_t>();
}
std::string text(const json& obj, const std::string& key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_string()) throw Error("response: " + path(where, key) + ": expected a string");
  return v.get<std::string>();
}
const json& list(const json& obj, const std::string& key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_array()) throw Error("response: " + path(where, key) + ": expected a list");
  return v;
}

ResultItem item_from_json(const json& j, const std::string& w, const std::map<std::string, std::uint32_t>& stage_of) {
  ResultItem it;
  it.doc_id = text(j, "id", w);
  it.title = text(j, "title", w);
  it.score = number(j, "score", w);
  const json& ch = list(j, "channels", w);
  for (std::size_t c = 0; c < ch.size(); ++c) {
    if (!ch[c].is_string()) throw Error("response: " + w + ".channels[" + std::to_string(c) + "]: expected a string");
    it.channels.push_back(ch[c].get<std::string>());
  }
  const json& marks = list(j, "stages", w);
  for (std::size_t m = 0; m < marks.size(); ++m) {
    const std::string mw = w + ".stages[" + std::to_string(m) + "]";
    const std::string stage = text(marks[m], "stage", mw);
    auto s = stage_of.find(stage);
    if (s == stage_of.end()) throw Error("response: " + mw + ".stage: '" + stage + "' is not in the trace");
    it.marks.push_back({s->second, number(marks[m], "score", mw), static_cast<std::uint32_t>(count(marks[m], "rank", mw))});
  }
  if (j.contains("pxtr")) {
    const json& p = j["pxtr"];
    if (!p.is_object()) throw Error("response: " + w + ".pxtr: expected an object");
    for (auto e = p.begin(); e != p.end(); ++e) it.pxtr.emplace_back(e.key(), number(p, e.key(), w + ".pxtr"));
  }
  return it;
}

}  // namespace

Response response_from_json(const json& j) {
  Response r;
  const json& trace = list(j, "trace", "");
  std::map<std::string, std::uint32_t> stage_of;
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const std::string w = "trace[" + std::to_string(i) + "]";
    StageTrace t;
    t.name = text(trace[i], "name", w);
    t.type = text(trace[i], "type", w);
    t.in = count(trace[i], "in", w);
    t.out = count(trace[i], "out", w);
    t.ms = number(trace[i], "ms", w);
    if (trace[i].contains("skipped")) {
      if (!trace[i]["skipped"].is_boolean()) throw Error("response: " + w + ".skipped: expected true or false");
      t.skipped = trace[i]["skipped"].get<bool>();
    }
    if (trace[i].contains("notes")) {
      const json& notes = trace[i]["notes"];
      if (!notes.is_array()) throw Error("response: " + w + ".notes: expected a list of strings");
      for (const auto& n : notes) {
        if (!n.is_string()) throw Error("response: " + w + ".notes: expected a list of strings");
        t.notes.push_back(n.get<std::string>());
      }
    }
    stage_of[t.name] = static_cast<std::uint32_t>(i);
    r.trace.push_back(std::move(t));
  }
  const json& items = list(j, "items", "");
  for (std::size_t i = 0; i < items.size(); ++i)
    r.items.push_back(item_from_json(items[i], "items[" + std::to_string(i) + "]", stage_of));
  r.total_ms = number(j, "total_ms", "");
  return r;
}

}  // namespace funnel
