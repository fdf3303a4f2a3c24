// The one exception type the funnel library throws for bad input (files,
// requests, configs) and failed operations. The CLI and the server catch it
// at the boundary and turn it into an exit code or an HTTP error.
#pragma once

#include <stdexcept>
#include <string>

namespace funnel {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A stage that failed for a reason of its own (a library under it threw
// something other than funnel::Error), not because of the request: the
// server answers it with 500, not 400.
class StageFailure : public Error {
 public:
  explicit StageFailure(const std::string& what) : Error(what) {}
};

// A request that ran past its total deadline (Request::deadline_ms or the
// cascade's "deadline_ms"): the server answers it with 504, not 400.
class DeadlineExceeded : public Error {
 public:
  explicit DeadlineExceeded(const std::string& what) : Error(what) {}
};

}  // namespace funnel
