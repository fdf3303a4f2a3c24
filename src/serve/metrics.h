// The server's counters and histograms, written out in the Prometheus text
// exposition format (GET /metrics; names in docs/serving.md, "Metrics").
// Thread-safe: every record_* may be called from any worker.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/pipeline.h"

namespace funnel::serve {

// A cumulative histogram with fixed upper bounds (Prometheus "le").
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // The series lines of `name` with `labels` ("" or `a="x",b="y"`).
  void write(std::string& out, const std::string& name, const std::string& labels) const;
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; last = +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  // One answered HTTP request: its endpoint ("search", "info", ...),
  // status and wall time.
  void record_request(const std::string& endpoint, int status, double seconds);
  // The stages of one answered search (cascade name for the labels).
  void record_search(const std::string& cascade, const Response& response);
  void record_reload(bool ok);
  // The serving version's {"generation", "store_version", "models": {...}}.
  void set_version(const nlohmann::json& version);
  void set_in_flight(std::int64_t n);
  // The whole exposition text.
  std::string prometheus() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;  // (endpoint, status)
  Histogram latency_;
  std::map<std::pair<std::string, std::string>, Histogram> stage_latency_, stage_candidates_;  // (cascade, stage)
  std::map<std::pair<std::string, std::string>, std::uint64_t> stage_skipped_;
  std::uint64_t reloads_ok_ = 0, reloads_failed_ = 0;
  nlohmann::json version_;
  std::int64_t in_flight_ = 0;
};

}  // namespace funnel::serve
