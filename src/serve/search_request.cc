#include "serve/search_request.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "util/utf8.h"

namespace funnel::serve {
using nlohmann::json;

namespace {

BadRequest bad(const std::string& what) { return BadRequest(400, "request: " + what); }

std::string checked_string(const json& v, const char* field, std::size_t max_bytes) {
  if (!v.is_string()) throw bad(std::string("field '") + field + "': expected a string, got " + std::string(v.type_name()));
  std::string s = v.get<std::string>();
  if (s.size() > max_bytes)
    throw bad(std::string("field '") + field + "': " + std::to_string(s.size()) + " bytes, the limit is " +
              std::to_string(max_bytes));
  if (auto at = detail::find_invalid_utf8(s); at != detail::kValidUtf8)
    throw bad(std::string("field '") + field + "': invalid UTF-8 at byte " + std::to_string(at + 1));
  return s;
}

// The deepest nesting of objects and lists in `body` (strings skipped), so
// that a body of 30,000 '[' is refused before anything recurses over it.
std::size_t nesting_depth(std::string_view body) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

constexpr std::size_t kMaxDepth = 32;

}  // namespace

SearchRequest parse_search_request(std::string_view body, const ServeLimits& limits) {
  if (body.size() > limits.max_body_bytes)
    throw BadRequest(413, "request: body of " + std::to_string(body.size()) + " bytes, the limit is " +
                              std::to_string(limits.max_body_bytes));
  // JSON has no NUL outside strings (where it is escaped); the parser would
  // stop reading at one and accept whatever came before.
  if (body.find('\0') != std::string_view::npos) throw bad("malformed JSON (a NUL byte in the body)");
  if (nesting_depth(body) > kMaxDepth)
    throw bad("malformed JSON (nested deeper than " + std::to_string(kMaxDepth) + " levels)");
  // Invalid UTF-8 inside JSON strings is a parse error here, never an
  // exception later when a message quotes it.
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw bad("malformed JSON (expected an object like {\"query\": \"...\"})");
  if (!j.is_object()) throw bad(std::string("expected a JSON object, got ") + j.type_name());
  static const char* const kFields[] = {"query", "user_id", "k", "overrides", "explain", "cascade", "deadline_ms"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::find(std::begin(kFields), std::end(kFields), it.key()) == std::end(kFields))
      throw bad("unknown field '" + it.key().substr(0, 64) +
                "' (known: query, user_id, k, overrides, explain, cascade, deadline_ms)");
  SearchRequest out;
  if (j.contains("user_id")) out.request.user_id = checked_string(j["user_id"], "user_id", limits.max_user_id_bytes);
  // A feed request names a user and no query.
  if (!j.contains("query") && out.request.user_id.empty())
    throw bad("field 'query': missing (a search needs a query; a feed request a user_id)");
  if (j.contains("query")) {
    out.request.query = checked_string(j["query"], "query", limits.max_query_bytes);
    if (out.request.query.find_first_not_of(" \t\r\n") == std::string::npos) throw bad("field 'query': empty");
  }
  if (j.contains("cascade")) out.cascade = checked_string(j["cascade"], "cascade", 256);
  if (j.contains("k")) {
    const json& k = j["k"];
    if (!k.is_number_integer() || k.get<std::int64_t>() < 1 || static_cast<std::uint64_t>(k.get<std::int64_t>()) > limits.max_k)
      throw bad("field 'k': expected an integer in [1, " + std::to_string(limits.max_k) + "], got " + (k.is_primitive() ? k.dump().substr(0, 40) : std::string(k.type_name())));
    out.request.k = static_cast<std::size_t>(k.get<std::int64_t>());
  }
  if (j.contains("explain")) {
    if (!j["explain"].is_boolean()) throw bad("field 'explain': expected true or false");
    out.explain = j["explain"].get<bool>();
  }
  if (j.contains("deadline_ms")) {
    const json& d = j["deadline_ms"];
    if (!d.is_number() || !std::isfinite(d.get<double>()) || d.get<double>() < 0)
      throw bad("field 'deadline_ms': expected a number >= 0 (milliseconds)");
    out.request.deadline_ms = d.get<double>();
  }
  if (j.contains("overrides")) {
    json& o = j["overrides"];
    if (!o.is_object()) throw bad("field 'overrides': expected an object {stage: {...}}");
    for (auto it = o.begin(); it != o.end(); ++it)
      if (!it.value().is_object()) throw bad("field 'overrides." + it.key() + "': expected an object");
    out.request.overrides = std::move(o);
  }
  return out;
}

std::string error_body(int status, const std::string& message) {
  // Messages may quote client bytes: replace what is not UTF-8.
  return json{{"error", {{"status", status}, {"message", message}}}}.dump(-1, ' ', false,
                                                                        json::error_handler_t::replace);
}

}  // namespace funnel::serve
