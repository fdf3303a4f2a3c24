// The body of POST /v1/search, checked field by field (docs/serving.md,
// "Request"). Torch-free and HTTP-free, so that the fuzz target
// (tests/serve/request_fuzzer.cc) exercises exactly what the server runs.
#pragma once

#include <string>
#include <string_view>

#include "funnel/error.h"
#include "funnel/pipeline.h"
#include "funnel/server.h"

namespace funnel::serve {

// A request the client got wrong: the server answers `status` (400, 404,
// 413, ...) with the message.
class BadRequest : public Error {
 public:
  BadRequest(int status, const std::string& what) : Error(what), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct SearchRequest {
  Request request;      // query, user_id, k, overrides, deadline_ms
  std::string cascade;  // "" : the server's default
  bool explain = true;  // false: items without their per-stage marks and pXtr
};

// Parses and checks a search body: a JSON object with "query" (required,
// non-empty, valid UTF-8, at most max_query_bytes), "user_id", "k" (1 ..
// max_k, default 10), "overrides" ({stage: {...}}), "explain" (bool),
// "cascade" (name), "deadline_ms" (>= 0). Unknown fields are refused.
// Throws BadRequest (400) naming the field.
SearchRequest parse_search_request(std::string_view body, const ServeLimits& limits);

// {"error": {"status": S, "message": M}}, the body of every error answer.
std::string error_body(int status, const std::string& message);

}  // namespace funnel::serve
