#include "serve/search_handler.h"

#include "funnel/error.h"
#include "serve/search_request.h"

namespace funnel::serve {
using nlohmann::json;

namespace {

json response_body(const ServingState& state, const ServingState::Cascade& cascade, const Response& r,
                   const SearchRequest& sr) {
  json j = response_to_json(r, sr.request);
  j["cascade"] = cascade.name;
  j["version"] = {{"generation", state.version.value("generation", 0)},
                  {"store_version", state.version.value("store_version", 0)}};
  if (!sr.explain)
    for (auto& item : j["items"]) {
      item.erase("stages");
      item.erase("pxtr");
    }
  return j;
}

void fail(SearchOutcome& out, int status, const std::string& message) {
  out.status = status;
  out.body = error_body(status, message);
  out.cascade = nullptr;
  out.response = Response{};
}

}  // namespace

SearchOutcome handle_search(const ServingState& state, std::string_view body, const ServeLimits& limits) {
  SearchOutcome out;
  try {
    const SearchRequest sr = parse_search_request(body, limits);
    const ServingState::Cascade* cascade = state.find(sr.cascade);
    if (!cascade)
      throw BadRequest(400, "request: field 'cascade': no cascade named '" + sr.cascade.substr(0, 64) +
                                "' (serving: " + state.cascade_names() + ")");
    if (state.users && !sr.request.user_id.empty() && !state.users->count(sr.request.user_id))
      throw BadRequest(400, "request: field 'user_id': unknown user '" + sr.request.user_id + "'");
    out.response = cascade->pipeline->run(sr.request);
    out.body = response_body(state, *cascade, out.response, sr).dump(-1, ' ', false, json::error_handler_t::replace);
    out.cascade = cascade;
  } catch (const BadRequest& e) {
    fail(out, e.status(), e.what());
  } catch (const DeadlineExceeded& e) {
    fail(out, 504, e.what());
  } catch (const StageFailure& e) {
    fail(out, 500, e.what());
  } catch (const Error& e) {
    fail(out, 400, e.what());  // the pipeline's checks of the request (overrides, UTF-8)
  } catch (const std::exception& e) {
    fail(out, 500, std::string("internal error: ") + e.what());
  }
  return out;
}

}  // namespace funnel::serve
