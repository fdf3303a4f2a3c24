// funnel::Server: the HTTP wiring (cpp-httplib) around handle_search(), the
// serving version and its switch, the metrics and the drain.
#include "funnel/server.h"

#include <malloc.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "funnel/error.h"
#include "serve/metrics.h"
#include "serve/search_handler.h"
#include "serve/search_request.h"
#include "serve/serving_state.h"

namespace funnel {
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using serve::error_body;

namespace {

const char* kJson = "application/json";

bool is_loopback(const std::string& addr) {
  return addr == "::1" || addr.starts_with("127.") || addr.starts_with("::ffff:127.");
}

const char* reason(int status) {
  switch (status) {
    case 400: return "bad request";
    case 403: return "forbidden";
    case 404: return "no such path";
    case 405: return "method not allowed";
    case 408: return "request timeout";
    case 413: return "request body too large";
    case 414: return "request URI too long";
    case 431: return "request headers too large";
    case 503: return "unavailable";
    default: return "error";
  }
}

}  // namespace

struct Server::Impl {
  ServerOptions o;
  httplib::Server http;
  serve::Metrics metrics;
  std::shared_ptr<const std::unordered_set<std::string>> users;

  mutable std::mutex state_mu;  // guards `state` (the pointer, not what it points at)
  std::shared_ptr<const serve::ServingState> state;
  std::mutex reload_mu;  // one reload at a time
  // An asynchronous reload (?async=1) runs here, off the worker pool; its
  // outcome ({"ok", "result" | "error"}) is kept for /v1/info.
  std::thread async_reload;
  std::atomic<bool> async_running{false};
  mutable std::mutex last_mu;
  json last_reload;

  std::atomic<bool> draining{false};
  std::atomic<std::int64_t> in_flight{0};
  int port = 0;
  bool bound = false;

  explicit Impl(ServerOptions options) : o(std::move(options)) {}

  std::shared_ptr<const serve::ServingState> current() const {
    std::lock_guard lock(state_mu);
    return state;
  }

  // Runs `fn` as one counted request of `endpoint`: refused while draining,
  // timed, recorded, and any exception turned into a JSON 500.
  void guarded(const char* endpoint, const httplib::Request& req, httplib::Response& res,
               const std::function<void()>& fn) {
    const auto t0 = Clock::now();
    metrics.set_in_flight(++in_flight);
    if (draining.load()) {
      res.status = 503;
      res.set_header("Connection", "close");
      res.set_content(error_body(503, "the server is shutting down"), kJson);
    } else {
      try {
        fn();
      } catch (const std::exception& e) {
        res.status = 500;
        res.set_content(error_body(500, std::string("internal error: ") + e.what()), kJson);
      }
    }
    // httplib leaves -1 for "200 unless the handler said otherwise".
    metrics.record_request(endpoint, res.status == -1 ? 200 : res.status,
                           std::chrono::duration<double>(Clock::now() - t0).count());
    metrics.set_in_flight(--in_flight);
  }

  // Whether `req` may use the admin endpoints; else answers 403.
  bool admin_allowed(const httplib::Request& req, httplib::Response& res) const {
    if (o.admin_token.empty() ? is_loopback(req.remote_addr)
                              : req.get_header_value("Authorization") == "Bearer " + o.admin_token)
      return true;
    res.status = 403;
    res.set_content(error_body(403, o.admin_token.empty()
                                        ? "admin endpoints answer loopback clients only (or start with --admin-token)"
                                        : "admin endpoints need the header 'Authorization: Bearer TOKEN'"),
                    kJson);
    return false;
  }

  void routes(Server& self);
};

void Server::Impl::routes(Server& self) {
  http.Post("/v1/search", [this](const httplib::Request& req, httplib::Response& res) {
    guarded("search", req, res, [&] {
      auto s = current();
      serve::SearchOutcome out = serve::handle_search(*s, req.body, o.limits);
      res.status = out.status;
      res.set_header("X-Funnel-Generation", std::to_string(s->generation));
      res.set_header("X-Funnel-Store-Version", std::to_string(s->version.value("store_version", 0)));
      res.set_content(std::move(out.body), kJson);
      if (out.cascade) metrics.record_search(out.cascade->name, out.response);
    });
  });
  http.Get("/v1/search", [this](const httplib::Request& req, httplib::Response& res) {
    guarded("search", req, res, [&] {
      res.status = 405;
      res.set_header("Allow", "POST");
      res.set_content(error_body(405, "use POST /v1/search with a JSON body"), kJson);
    });
  });
  http.Get("/healthz", [this](const httplib::Request& req, httplib::Response& res) {
    guarded("healthz", req, res, [&] {
      auto s = current();
      res.set_content(json{{"status", "ok"}, {"generation", s->generation}}.dump(), kJson);
    });
  });
  http.Get("/v1/info", [this](const httplib::Request& req, httplib::Response& res) {
    guarded("info", req, res, [&] {
      json j = serve::info_json(*current());
      {
        std::lock_guard lock(last_mu);
        if (!last_reload.is_null()) j["last_async_reload"] = last_reload;
      }
      j["server"] = {{"threads", o.threads},
                     {"limits",
                      {{"max_body_bytes", o.limits.max_body_bytes},
                       {"max_query_bytes", o.limits.max_query_bytes},
                       {"max_k", o.limits.max_k}}}};
      res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), kJson);
    });
  });
  http.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    guarded("metrics", req, res,
            [&] { res.set_content(metrics.prometheus(), "text/plain; version=0.0.4; charset=utf-8"); });
  });
  http.Post("/v1/admin/reload", [this, &self](const httplib::Request& req, httplib::Response& res) {
    guarded("reload", req, res, [&] {
      if (!admin_allowed(req, res)) return;
      std::unique_lock busy(reload_mu, std::try_to_lock);
      if (!busy.owns_lock()) {
        res.status = 409;
        res.set_content(error_body(409, "a reload is already in progress"), kJson);
        return;
      }
      busy.unlock();  // reload() takes it again; a race here only serialises two reloads
      if (req.get_param_value("async") == "1") {
        // Loading takes seconds: off the worker pool, so that the workers
        // keep answering searches meanwhile. Poll /healthz or /v1/info.
        if (async_running.exchange(true)) {
          res.status = 409;
          res.set_content(error_body(409, "a reload is already in progress"), kJson);
          return;
        }
        if (async_reload.joinable()) async_reload.join();
        async_reload = std::thread([this, &self] {
          json outcome;
          try {
            outcome = {{"ok", true}, {"result", self.reload()}};
          } catch (const std::exception& e) {
            outcome = {{"ok", false}, {"error", e.what()}};
          }
          {
            std::lock_guard lock(last_mu);
            last_reload = std::move(outcome);
          }
          async_running = false;
        });
        res.status = 202;
        res.set_content(json{{"status", "loading"}, {"generation", current()->generation}}.dump(), kJson);
        return;
      }
      try {
        res.set_content(self.reload().dump(), kJson);
      } catch (const Error& e) {
        res.status = 500;
        res.set_content(error_body(500, e.what()), kJson);
      }
    });
  });
  if (!o.web_dir.empty() && !http.set_mount_point("/", o.web_dir.string()))
    throw Error(o.web_dir.string() + ": web folder not found (--web)");
  // Every error without a body of its own (unknown path, a path outside the
  // web folder, a body over the limit, a malformed request line) gets a
  // JSON one.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string what = reason(res.status);
    if (res.status == 404) what += ": " + req.method + " " + req.path.substr(0, 200);
    res.set_content(error_body(res.status, what), kJson);
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what += std::string(": ") + e.what();
    } catch (...) {
    }
    res.status = 500;
    res.set_content(error_body(500, what), kJson);
  });
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& I = *impl_;
  if (I.o.threads == 0) throw Error("serve: --threads: expected >= 1");
  if (!I.o.users.empty()) I.users = serve::read_user_ids(I.o.users);
  I.state = serve::load_serving_state(I.o, 1, I.users);
  I.metrics.set_version(I.state->version);
  const std::size_t threads = I.o.threads;
  I.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  I.http.set_payload_max_length(I.o.limits.max_body_bytes);
  I.http.set_read_timeout(I.o.limits.read_timeout_s, 0);
  I.http.set_write_timeout(I.o.limits.write_timeout_s, 0);
  // A worker serves one connection at a time: an idle keep-alive
  // connection must not hold it for long, nor a busy one for ever (after
  // 100 requests it is closed and the client reconnects behind the
  // connections waiting for a worker, an admin reload among them).
  I.http.set_keep_alive_timeout(1);
  I.http.set_keep_alive_max_count(100);
  I.http.set_tcp_nodelay(true);
  I.routes(*this);
}

Server::~Server() {
  if (impl_->http.is_running()) impl_->http.stop();
  if (impl_->async_reload.joinable()) impl_->async_reload.join();
}

int Server::bind() {
  Impl& I = *impl_;
  if (I.bound) return I.port;
  if (I.o.port == 0) {
    I.port = I.http.bind_to_any_port(I.o.host);
    if (I.port < 0) throw Error("serve: cannot bind " + I.o.host + " to any port");
  } else {
    if (!I.http.bind_to_port(I.o.host, I.o.port))
      throw Error("serve: cannot listen on " + I.o.host + ":" + std::to_string(I.o.port) + " (in use?)");
    I.port = I.o.port;
  }
  I.bound = true;
  return I.port;
}

void Server::run() {
  bind();
  impl_->http.listen_after_bind();
}

int Server::port() const { return impl_->port; }

std::size_t Server::drain() {
  Impl& I = *impl_;
  I.draining = true;
  const auto until = Clock::now() + std::chrono::duration<double>(I.o.drain_timeout_s);
  while (I.in_flight.load() > 0 && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto left = static_cast<std::size_t>(std::max<std::int64_t>(0, I.in_flight.load()));
  // stop() closes the listener; httplib then waits for its workers.
  I.http.stop();
  return left;
}

void Server::stop() { impl_->http.stop(); }

json Server::version() const { return impl_->current()->version; }

json Server::reload() {
  Impl& I = *impl_;
  std::lock_guard busy(I.reload_mu);
  std::shared_ptr<const serve::ServingState> old = I.current(), next;
  try {
    next = serve::load_serving_state(I.o, old->generation + 1, I.users);
  } catch (const Error& e) {
    I.metrics.record_reload(false);
    throw Error(std::string("reload refused: ") + e.what() + " (still serving generation " +
                std::to_string(old->generation) + ")");
  }
  {
    std::lock_guard lock(I.state_mu);
    I.state = next;
  }
  I.metrics.set_version(next->version);
  I.metrics.record_reload(true);
  // The old version goes when its last request ends; wait for that
  // (bounded), then give the freed memory back to the system.
  const json previous = old->version;
  std::weak_ptr<const serve::ServingState> gone = old;
  old.reset();
  const auto until = Clock::now() + std::chrono::seconds(10);
  while (!gone.expired() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const bool released = gone.expired();
  if (released) malloc_trim(0);
  std::fprintf(stderr, "serve: now serving generation %llu (store version %llu)%s\n",
               static_cast<unsigned long long>(next->generation),
               static_cast<unsigned long long>(next->version.value("store_version", 0)),
               released ? "" : "; the old version is still held by a request");
  return {{"generation", next->generation},
          {"store_version", next->version.value("store_version", 0)},
          {"version", next->version},
          {"previous", previous},
          {"old_released", released}};
}

}  // namespace funnel
