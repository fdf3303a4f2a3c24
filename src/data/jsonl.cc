#include "data/jsonl.h"

#include <cmath>
#include <limits>

#include "funnel/error.h"
#include "util/utf8.h"

namespace funnel::detail {
using nlohmann::json;

std::string json_type_name(const json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  return v.type_name();
}

JsonlReader::JsonlReader(std::filesystem::path path) : path_(std::move(path)) {
  if (!std::filesystem::is_regular_file(path_))
    throw Error(path_.string() + ": file not found");
  in_.open(path_, std::ios::binary);
  if (!in_) throw Error(path_.string() + ": cannot open for reading");
}

std::string JsonlReader::where() const {
  return path_.string() + ":" + std::to_string(line_);
}

void JsonlReader::fail(std::string_view field, std::string_view what) const {
  std::string msg = where() + ": ";
  if (!field.empty()) msg += "field '" + std::string(field) + "': ";
  msg += what;
  throw Error(msg);
}

bool JsonlReader::next(json& obj) {
  while (std::getline(in_, buf_)) {
    ++line_;
    if (!buf_.empty() && buf_.back() == '\r') buf_.pop_back();
    std::string_view s = buf_;
    if (line_ == 1 && s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);  // BOM
    if (s.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (auto bad = find_invalid_utf8(s); bad != kValidUtf8)
      fail("", "invalid UTF-8 at byte " + std::to_string(bad + 1) + " of the line");
    try {
      obj = json::parse(s);
    } catch (const json::parse_error& e) {
      fail("", std::string("malformed JSON (") + e.what() + ")");
    }
    if (!obj.is_object()) fail("", "expected a JSON object, got " + json_type_name(obj));
    return true;
  }
  if (in_.bad()) throw Error(path_.string() + ": read error");
  return false;
}

std::string JsonlReader::required_string(const json& obj, const char* key) const {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) fail(key, "missing (expected a string)");
  if (!it->is_string()) fail(key, "expected a string, got " + json_type_name(*it));
  return it->get<std::string>();
}

std::string JsonlReader::optional_string(const json& obj, const char* key) const {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_string()) fail(key, "expected a string, got " + json_type_name(*it));
  return it->get<std::string>();
}

std::string JsonlReader::id(const json& obj, std::initializer_list<const char*> keys) const {
  for (const char* key : keys) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) continue;
    std::string v;
    if (it->is_string()) v = it->get<std::string>();
    else if (it->is_number_integer()) v = it->dump();  // exact digits, unsigned included
    else fail(key, "expected a string id, got " + json_type_name(*it));
    if (v.empty()) fail(key, "empty id");
    for (unsigned char ch : v)
      if (ch <= 0x20 || ch == 0x7F) fail(key, "id contains whitespace or a control character (TREC files cannot hold it)");
    return v;
  }
  std::string names;
  for (const char* key : keys) names += (names.empty() ? "'" : " or '") + std::string(key) + "'";
  fail("", "missing id (expected " + names + ")");
}

std::vector<std::string> JsonlReader::optional_string_list(const json& obj, const char* key) const {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) fail(key, "expected a list of strings, got " + json_type_name(*it));
  out.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& v = (*it)[i];
    if (!v.is_string())
      fail(key, "element " + std::to_string(i) + ": expected a string, got " + json_type_name(v));
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::vector<float> JsonlReader::optional_float_list(const json& obj, const char* key) const {
  std::vector<float> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) fail(key, "expected a list of numbers, got " + json_type_name(*it));
  out.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& v = (*it)[i];
    if (!v.is_number())
      fail(key, "element " + std::to_string(i) + ": expected a number, got " + json_type_name(v));
    double d = v.get<double>();
    if (!std::isfinite(static_cast<float>(d)))
      fail(key, "element " + std::to_string(i) + ": out of float range");
    out.push_back(static_cast<float>(d));
  }
  return out;
}

long JsonlReader::required_int(const json& obj, const char* key) const {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) fail(key, "missing (expected an integer)");
  if (!it->is_number_integer()) fail(key, "expected an integer, got " + json_type_name(*it));
  return it->get<long>();
}

std::optional<std::int64_t> JsonlReader::optional_int64(const json& obj, const char* key) const {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) fail(key, "expected an integer, got " + json_type_name(*it));
  // nlohmann keeps integers above INT64_MAX unsigned.
  if (it->is_number_unsigned() &&
      it->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    fail(key, "expected an integer that fits 64 bits, got " + it->dump());
  return it->get<std::int64_t>();
}

double JsonlReader::required_number(const json& obj, const char* key) const {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) fail(key, "missing (expected a number)");
  if (!it->is_number()) fail(key, "expected a number, got " + json_type_name(*it));
  return it->get<double>();
}

bool JsonlReader::required_flag(const json& obj, const char* key) const {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) fail(key, "missing (expected true/false or 0/1)");
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_number_integer()) {
    long v = it->get<long>();
    if (v == 0 || v == 1) return v == 1;
  }
  fail(key, "expected true/false or 0/1, got " + it->dump());
}

}  // namespace funnel::detail
