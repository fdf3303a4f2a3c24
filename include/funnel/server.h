// The cascade as an HTTP/1.1 service (`funnel serve`, docs/serving.md):
//
//   POST /v1/search        one request through a cascade, with its trace
//   GET  /healthz          200 once a version is loaded, 503 while draining
//   GET  /v1/info          the serving version (store, models) and the cascades
//   GET  /metrics          Prometheus text: requests, latencies, candidates
//   POST /v1/admin/reload  load the index's current version aside and switch
//                          (?async=1: 202 at once, loaded off the workers)
//   GET  /...              the static files of `web_dir` (the demo page)
//
// A *version* is everything a request reads: the opened index (with its
// embedding-store version and ANN index) and every cascade built over it
// with its models. Requests take the current version when they start and
// finish on it; reload() builds and checks a new one aside, then switches
// atomically, and the old one is freed when its last request ends. A
// version that fails to load or to answer a probe request is refused and
// the old one keeps serving.
//
// Bad input never changes state: every malformed, oversized or unknown
// thing in a request is a 4xx with {"error": {"status", "message"}} naming
// it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace funnel {

// What a request may be; beyond these it is refused with a 4xx.
struct ServeLimits {
  std::size_t max_body_bytes = 64 * 1024;  // 413 beyond
  std::size_t max_query_bytes = 1024;      // 400 beyond
  std::size_t max_user_id_bytes = 128;
  std::size_t max_k = 100;
  // A client that sends nothing for this long is disconnected (slow or
  // stalled clients cannot hold a worker thread for longer).
  int read_timeout_s = 5;
  int write_timeout_s = 5;
};

struct ServerOptions {
  std::filesystem::path index;  // the index folder (reopened by reload())
  // Cascade config files; a request picks one by name (the file's stem,
  // e.g. "demo-rerank"), the first is the default. Empty: the built-in
  // default cascade, named "default".
  std::vector<std::filesystem::path> configs;
  // Optional users.jsonl ({"user_id", ...} per line): when given, a request
  // with a user_id not in it is refused (400).
  std::filesystem::path users;
  std::filesystem::path web_dir;  // static files served at / ("": none)
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see Server::port())
  std::size_t threads = 2;  // worker threads, each serving one connection at a time
  // Admin endpoints: from loopback only when empty; else the header
  // "Authorization: Bearer TOKEN" is required (from anywhere).
  std::string admin_token;
  // libtorch's intra-op threads per model call: 1 by default, as requests
  // already run in parallel on the workers.
  int model_threads = 1;
  double drain_timeout_s = 30;  // drain(): the longest wait for requests in flight
  ServeLimits limits;
};

class Server {
 public:
  // Loads the first version (generation 1). Throws funnel::Error naming the
  // file or config at fault.
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket (options.port, or any free one for 0) and
  // returns the port. Throws funnel::Error when the address is taken.
  int bind();
  // Serves on the bound socket (binds first if needed) until drain() or
  // stop(); blocks. Returns normally after a drain.
  void run();
  // The port bound (0 before bind()).
  int port() const;

  // Graceful stop, e.g. on SIGTERM: from now on requests are refused (503,
  // "Connection: close"), the requests in flight finish (waiting at most
  // drain_timeout_s), then the listener stops and run() returns. Returns
  // the number of requests still in flight when it gave up (0: all done).
  // Thread-safe; a second call waits for nothing more.
  std::size_t drain();
  // Immediate stop (tests): the listener closes, run() returns.
  void stop();

  // Loads the index's current version aside, checks it (every cascade
  // answers a probe request) and switches to it. Returns {"generation",
  // "store_version", "previous": {...}, "old_released": bool}. Throws
  // funnel::Error when the new version fails; the old one keeps serving.
  nlohmann::json reload();
  // The serving version as in GET /v1/info's "version".
  nlohmann::json version() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace funnel
