// POST /v1/search without the HTTP: body in, status and JSON body out, on
// one serving version. The server and the fuzz target call it alike.
#pragma once

#include <string>
#include <string_view>

#include "funnel/pipeline.h"
#include "serve/serving_state.h"

namespace funnel::serve {

struct SearchOutcome {
  int status = 200;
  std::string body;  // the response JSON, or error_body()
  // On 200: the cascade that ran and its response (for the metrics).
  const ServingState::Cascade* cascade = nullptr;
  Response response;
};

// Parses the body, picks the cascade, checks the user and runs the request.
// Never throws for anything in the body: 400 (bad field, unknown cascade,
// stage or user), 413 (too big), 504 (past the deadline), 500 (a stage
// failed on its own). The 200 body is response_to_json() plus "cascade"
// and "version" ({"generation", "store_version"}); with "explain": false
// the items carry no "stages" and no "pxtr".
SearchOutcome handle_search(const ServingState& state, std::string_view body, const ServeLimits& limits);

}  // namespace funnel::serve
