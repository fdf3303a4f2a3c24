// `funnel serve`: the cascade as an HTTP service (funnel/server.h,
// docs/serving.md). SIGTERM or SIGINT drains and exits 0; SIGHUP reloads.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <thread>

#include "commands.h"
#include "funnel/error.h"
#include "funnel/server.h"

namespace funnel::cli {

namespace {

// The last signal received (0: none). Set by the handler, on whatever thread
// the kernel picked (libraries start threads of their own before main, so
// masking cannot route signals to one thread); read by the watcher.
volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_signal(int sig) { g_signal = sig; }

// Waits for SIGTERM / SIGINT (drain) and SIGHUP (reload) until `done`.
void watch_signals(Server& server, const std::atomic<bool>& done) {
  while (!done.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const int sig = g_signal;
    if (!sig) continue;
    g_signal = 0;
    if (sig == SIGHUP) {
      try {
        server.reload();
      } catch (const Error& e) {
        std::fprintf(stderr, "serve: %s\n", e.what());
      }
    } else {
      std::fprintf(stderr, "serve: %s: draining (new requests refused, waiting for those in flight)\n",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
      const std::size_t left = server.drain();
      if (left) std::fprintf(stderr, "serve: gave up waiting for %zu request(s)\n", left);
      return;
    }
  }
}

}  // namespace

void add_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve the cascade over HTTP: /v1/search, /v1/info, /metrics, the demo page");
  auto o = std::make_shared<ServerOptions>();
  auto configs = std::make_shared<std::vector<std::string>>();
  auto web = std::make_shared<std::string>();
  auto no_web = std::make_shared<bool>(false);
  cmd->add_option("--index", o->index, "Index folder built by `funnel index` (reopened by reload)")->required();
  cmd->add_option("--config", *configs,
                  "Cascade config JSON; repeat to serve several (a request picks one by file stem with "
                  "\"cascade\"; the first is the default). Default: BM25 recall -> truncate");
  cmd->add_option("--users", o->users, "users.jsonl: refuse requests whose user_id is not in it");
  cmd->add_option("--host", o->host, "Address to listen on (admin endpoints: loopback clients only, unless "
                                     "--admin-token)")->capture_default_str();
  cmd->add_option("--port", o->port, "Port (0: any free port, printed at start)")->capture_default_str()->check(
      CLI::Range(0, 65535));
  cmd->add_option("--threads", o->threads, "Worker threads (each serves one connection at a time)")
      ->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--model-threads", o->model_threads, "libtorch threads per model call")
      ->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--admin-token", o->admin_token, "Require 'Authorization: Bearer TOKEN' on /v1/admin/*");
  cmd->add_option("--web", *web, "Folder of the demo page served at / (default: the source tree's web/)");
  cmd->add_flag("--no-web", *no_web, "Serve no static files");
  cmd->add_option("--max-body", o->limits.max_body_bytes, "Largest request body in bytes (413 beyond)")
      ->capture_default_str()->check(CLI::Range(256, 64 << 20));
  cmd->add_option("--max-k", o->limits.max_k, "Largest k a request may ask for")->capture_default_str()->check(
      CLI::Range(1, 100000));
  cmd->add_option("--read-timeout", o->limits.read_timeout_s, "Seconds a client may stay silent mid-request")
      ->capture_default_str()->check(CLI::Range(1, 600));
  cmd->add_option("--drain-timeout", o->drain_timeout_s, "Seconds SIGTERM waits for requests in flight")
      ->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  cmd->callback([=] {
    for (const auto& c : *configs) o->configs.emplace_back(c);
    if (!*no_web) {
      o->web_dir = web->empty() ? std::filesystem::path(FUNNEL_WEB_DIR) : std::filesystem::path(*web);
      if (web->empty() && !std::filesystem::is_directory(o->web_dir)) o->web_dir.clear();
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
    std::fprintf(stderr, "serve: loading %s ...\n", o->index.string().c_str());
    Server server(*o);
    const int port = server.bind();
    const auto v = server.version();
    std::printf("serve: listening on http://%s:%d/ (generation %llu, store version %llu%s)\n", o->host.c_str(), port,
                static_cast<unsigned long long>(v.value("generation", 0)),
                static_cast<unsigned long long>(v.value("store_version", 0)),
                o->web_dir.empty() ? ", no web page" : "");
    std::fflush(stdout);
    std::atomic<bool> done{false};
    std::thread watcher([&] { watch_signals(server, done); });
    server.run();
    done = true;
    watcher.join();
    std::fprintf(stderr, "serve: stopped\n");
  });
}

}  // namespace funnel::cli
