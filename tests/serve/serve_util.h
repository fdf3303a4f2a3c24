// What the server tests share: a funnel::Server running on a loopback port
// in a thread of the test, an HTTP client for it, raw-socket exchanges for
// the misbehaving clients, and cascade files over the trained fixture.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "fixture.h"
#include "funnel/server.h"
#include "test_util.h"

namespace funnel::test {

// A Server on 127.0.0.1:<any free port>, serving from a thread until
// destroyed (or until the test drains it).
class RunningServer {
 public:
  explicit RunningServer(ServerOptions o) {
    o.host = "127.0.0.1";
    o.port = 0;
    server_ = std::make_unique<Server>(std::move(o));
    port_ = server_->bind();
    thread_ = std::thread([this] {
      server_->run();
      done_ = true;
    });
    // Ready when /healthz answers (bounded).
    for (int i = 0; i < 500; ++i) {
      auto r = client().Get("/healthz");
      if (r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "the server did not answer /healthz within 5 s";
  }
  ~RunningServer() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  Server& server() { return *server_; }
  int port() const { return port_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(60, 0);
    return c;
  }
  // POST /v1/search; the status (-1: no answer) and the parsed body.
  std::pair<int, nlohmann::json> search(const std::string& body) const {
    auto r = client().Post("/v1/search", body, "application/json");
    if (!r) return {-1, nullptr};
    return {r->status, nlohmann::json::parse(r->body, nullptr, false)};
  }
  std::pair<int, nlohmann::json> search(const nlohmann::json& body) const { return search(body.dump()); }
  // Waits (bounded) for run() to return, as it does after a drain.
  bool stopped_within(std::chrono::seconds limit) const {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done_.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return done_.load();
  }

 private:
  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> done_{false};
};

// Sends `bytes` on a fresh connection, optionally half-closes, then reads
// until the server closes or `wait_ms` passes. Returns what was read and
// whether the server closed the connection.
struct RawResult {
  std::string data;
  bool closed = false;
  double ms = 0;  // until closed (or the wait ended)
};
inline RawResult raw_exchange(int port, const std::string& bytes, bool half_close, int wait_ms) {
  RawResult out;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return out;
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (!bytes.empty()) (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  if (half_close) ::shutdown(fd, SHUT_WR);
  timeval tv{0, 50 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[4096];
  while (true) {
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (ms > wait_ms) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) {
      out.closed = true;
      break;
    }
    if (n > 0) out.data.append(buf, static_cast<std::size_t>(n));
  }
  out.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ::close(fd);
  return out;
}

// The fixture's complete funnel: bm25 + ann -> prerank -> rank -> formula
// fusion -> DPP (optional).
inline nlohmann::json full_cascade() {
  return nlohmann::json::parse(R"({"stages": [
    {"name": "recall", "type": "recall", "channels": [{"type": "bm25", "quota": 200}, {"type": "ann", "quota": 200}]},
    {"name": "prerank", "type": "prerank", "keep": 50},
    {"name": "rank", "type": "rank", "keep": 20},
    {"name": "fusion", "type": "formula"},
    {"name": "dpp", "type": "dpp", "theta": 0.7, "optional": true}]})");
}

// Writes `cascade` to DIR/NAME.json and returns the path.
inline std::filesystem::path cascade_file(const std::filesystem::path& dir, const std::string& name,
                                          const nlohmann::json& cascade) {
  const auto p = dir / (name + ".json");
  write_file(p, cascade.dump(2));
  return p;
}

}  // namespace funnel::test
