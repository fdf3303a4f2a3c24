// `funnel bench serve`: the same cascade and queries in-process and through
// the HTTP server on loopback, per server thread count: throughput of both
// (closed loop, as many clients as server threads), then latency under an
// open-loop load at half the HTTP throughput measured (latency counted from
// each request's scheduled start, so queueing behind a slow one counts).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include <httplib.h>

#include "experiments/bench.h"
#include "funnel/data.h"
#include "funnel/engine.h"
#include "funnel/error.h"
#include "funnel/server.h"

namespace funnel::experiments {
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> bench_queries(const std::string& data, std::size_t n) {
  std::vector<std::string> out;
  for (const auto& q : read_queries(std::filesystem::path(data) / "queries.jsonl")) {
    out.push_back(q.text);
    if (out.size() == n) break;
  }
  if (out.empty()) throw Error(data + "/queries.jsonl: no queries");
  return out;
}

// Runs `per_thread(t, i)` for i in [0, n) spread over `threads` threads;
// returns the wall seconds.
template <class F>
double spread(std::size_t threads, std::size_t n, F&& per_thread) {
  std::atomic<std::size_t> next{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (std::size_t t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (std::size_t i; (i = next++) < n;) per_thread(t, i);
    });
  for (auto& t : ts) t.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string body_of(const std::string& query, const std::string& cascade) {
  return json{{"query", query}, {"k", 10}, {"cascade", cascade}, {"explain", false}}.dump();
}

struct HttpResult {
  double qps = 0, p50_ms = 0, p99_ms = 0, load_qps = 0;
  std::size_t errors = 0;
};

HttpResult bench_http(const ServeBenchOptions& o, const std::filesystem::path& config, std::size_t threads,
                      const std::vector<std::string>& queries) {
  ServerOptions so;
  so.index = o.index;
  so.configs = {config};
  so.port = 0;
  so.threads = threads;
  Server server(so);
  const int port = server.bind();
  std::thread serving([&] { server.run(); });
  const std::string cascade = config.stem().string();
  std::atomic<std::size_t> errors{0};
  std::vector<std::unique_ptr<httplib::Client>> clients;
  for (std::size_t t = 0; t < threads; ++t) {
    clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", port));
    clients.back()->set_keep_alive(true);
    clients.back()->set_tcp_nodelay(true);  // else Nagle holds the body behind the headers (40 ms)
    clients.back()->set_read_timeout(30, 0);
  }
  auto call = [&](std::size_t t, std::size_t i) {
    auto r = clients[t]->Post("/v1/search", body_of(queries[i % queries.size()], cascade), "application/json");
    if (!r || r->status != 200) ++errors;
  };
  spread(threads, std::min<std::size_t>(queries.size(), 20), call);  // warm-up
  HttpResult out;
  out.qps = static_cast<double>(o.requests) / spread(threads, o.requests, call);
  // Open loop at half that rate, each client on its own schedule.
  out.load_qps = out.qps / 2;
  const double interval = static_cast<double>(threads) / out.load_qps;  // seconds between one client's requests
  const std::size_t per_client = std::max<std::size_t>(1, o.requests / threads);
  std::vector<std::vector<double>> lat(threads);
  std::vector<std::thread> ts;
  const auto start = Clock::now();
  for (std::size_t t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (std::size_t i = 0; i < per_client; ++i) {
        const auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                     interval * (static_cast<double>(i) + static_cast<double>(t) / threads)));
        std::this_thread::sleep_until(due);
        call(t, i * threads + t);
        lat[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - due).count());
      }
    });
  for (auto& t : ts) t.join();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  out.p50_ms = median(all);
  out.p99_ms = p99(all);
  out.errors = errors.load();
  server.stop();
  serving.join();
  return out;
}

}  // namespace

json bench_serve(const ServeBenchOptions& o) {
  const auto queries = bench_queries(o.data, o.queries);
  json rows = json::array();
  for (const auto& config : o.configs) {
    const Engine engine(o.index, read_cascade_config(config), config);
    for (std::size_t threads : o.threads) {
      std::fprintf(stderr, "bench serve: %s, %zu thread(s) ...\n", config.c_str(), threads);
      auto run = [&](std::size_t, std::size_t i) {
        Request r;
        r.query = queries[i % queries.size()];
        r.k = 10;
        engine.run(r);
      };
      spread(threads, std::min<std::size_t>(queries.size(), 20), run);  // warm-up
      const double in_process_qps = static_cast<double>(o.requests) / spread(threads, o.requests, run);
      const HttpResult h = bench_http(o, config, threads, queries);
      rows.push_back({{"cascade", std::filesystem::path(config).stem().string()},
                      {"threads", threads},
                      {"in_process_qps", in_process_qps},
                      {"http_qps", h.qps},
                      {"http_vs_in_process", h.qps / in_process_qps},
                      {"load_qps", h.load_qps},
                      {"p50_ms", h.p50_ms},
                      {"p99_ms", h.p99_ms},
                      {"errors", h.errors},
                      {"requests", o.requests}});
    }
  }
  return rows;
}

std::string serve_bench_table(const json& rows) {
  std::string out = "cascade               threads  in-process q/s  HTTP q/s  HTTP/in-proc  load q/s  p50 ms  p99 ms  errors\n";
  char buf[256];
  for (const auto& r : rows) {
    std::snprintf(buf, sizeof buf, "%-20s %8d %15.1f %9.1f %12.2f %9.1f %7.2f %7.2f %7d\n",
                  r["cascade"].get<std::string>().c_str(), r["threads"].get<int>(), r["in_process_qps"].get<double>(),
                  r["http_qps"].get<double>(), r["http_vs_in_process"].get<double>(), r["load_qps"].get<double>(),
                  r["p50_ms"].get<double>(), r["p99_ms"].get<double>(), r["errors"].get<int>());
    out += buf;
  }
  out += "(closed loop for q/s with as many clients as server threads; p50/p99 open loop at half the HTTP q/s,\n"
         " counted from each request's scheduled start; clients share the machine with the server)\n";
  return out;
}

}  // namespace funnel::experiments
