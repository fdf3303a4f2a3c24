// Strict line-by-line JSONL reading with errors that name file:line and field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace funnel::detail {

// Reads one JSON object per line; blank lines are skipped. Every line is
// checked for UTF-8 before parsing. Throws funnel::Error on anything else.
class JsonlReader {
 public:
  explicit JsonlReader(std::filesystem::path path);

  // Parses the next non-blank line into `obj`; false at end of file.
  bool next(nlohmann::json& obj);
  // 1-based number of the line last returned.
  long line() const { return line_; }
  // "PATH:LINE"
  std::string where() const;
  // Throws funnel::Error "PATH:LINE: field 'FIELD': WHAT".
  [[noreturn]] void fail(std::string_view field, std::string_view what) const;

  // Field accessors on the object last returned. A missing optional field
  // yields the default; null counts as missing.
  std::string required_string(const nlohmann::json& obj, const char* key) const;
  std::string optional_string(const nlohmann::json& obj, const char* key) const;
  // An id: the first present of `keys` (e.g. "id", "_id"); must be a
  // non-empty string (an integer is accepted and converted).
  std::string id(const nlohmann::json& obj, std::initializer_list<const char*> keys) const;
  std::vector<std::string> optional_string_list(const nlohmann::json& obj, const char* key) const;
  std::vector<float> optional_float_list(const nlohmann::json& obj, const char* key) const;
  long required_int(const nlohmann::json& obj, const char* key) const;
  // An integer that fits int64_t; nullopt when absent.
  std::optional<std::int64_t> optional_int64(const nlohmann::json& obj, const char* key) const;
  double required_number(const nlohmann::json& obj, const char* key) const;
  // A flag: true/false or 0/1.
  bool required_flag(const nlohmann::json& obj, const char* key) const;

 private:
  std::filesystem::path path_;
  std::ifstream in_;
  std::string buf_;
  long line_ = 0;
};

// Name of a JSON value's type for error messages ("string", "number", ...).
std::string json_type_name(const nlohmann::json& v);

}  // namespace funnel::detail
