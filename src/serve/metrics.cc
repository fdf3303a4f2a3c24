#include "serve/metrics.h"

#include <algorithm>
#include <cstdio>

namespace funnel::serve {
using nlohmann::json;

namespace {

const std::vector<double> kSecondsBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                             0.05,   0.1,   0.25,   0.5,   1,    2.5};
const std::vector<double> kCandidateBuckets = {1, 10, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000};

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A label value: backslash, quote and newline escaped.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  const auto b = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  ++counts_[static_cast<std::size_t>(b)];
  sum_ += v;
  ++count_;
}

void Histogram::write(std::string& out, const std::string& name, const std::string& labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  std::uint64_t cum = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    out += name + "_bucket{" + labels + sep + "le=\"" + number(bounds_[i]) + "\"} " + std::to_string(cum) + "\n";
  }
  cum += counts_.back();
  out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(cum) + "\n";
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + number(sum_) + "\n";
  out += name + "_count" + braces + " " + std::to_string(count_) + "\n";
}

Metrics::Metrics() : latency_(kSecondsBuckets) {}

void Metrics::record_request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{endpoint, status}];
  if (endpoint == "search") latency_.observe(seconds);
}

void Metrics::record_search(const std::string& cascade, const Response& r) {
  std::lock_guard lock(mu_);
  for (const auto& t : r.trace) {
    const auto key = std::make_pair(cascade, t.name);
    if (t.skipped) {
      ++stage_skipped_[key];
      continue;
    }
    stage_latency_.try_emplace(key, kSecondsBuckets).first->second.observe(t.ms / 1000.0);
    stage_candidates_.try_emplace(key, kCandidateBuckets).first->second.observe(static_cast<double>(t.out));
  }
}

void Metrics::record_reload(bool ok) {
  std::lock_guard lock(mu_);
  ++(ok ? reloads_ok_ : reloads_failed_);
}

void Metrics::set_version(const json& version) {
  std::lock_guard lock(mu_);
  version_ = version;
}

void Metrics::set_in_flight(std::int64_t n) {
  std::lock_guard lock(mu_);
  in_flight_ = n;
}

std::string Metrics::prometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  header(out, "funnel_http_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
  for (const auto& [key, n] : requests_)
    out += "funnel_http_requests_total{endpoint=\"" + label(key.first) + "\",status=\"" + std::to_string(key.second) +
           "\"} " + std::to_string(n) + "\n";
  header(out, "funnel_search_duration_seconds", "histogram", "Wall time of POST /v1/search, all statuses.");
  latency_.write(out, "funnel_search_duration_seconds", "");
  header(out, "funnel_stage_duration_seconds", "histogram", "Wall time of each cascade stage that ran.");
  for (const auto& [key, h] : stage_latency_)
    h.write(out, "funnel_stage_duration_seconds", "cascade=\"" + label(key.first) + "\",stage=\"" + label(key.second) + "\"");
  header(out, "funnel_stage_candidates", "histogram", "Candidates leaving each cascade stage.");
  for (const auto& [key, h] : stage_candidates_)
    h.write(out, "funnel_stage_candidates", "cascade=\"" + label(key.first) + "\",stage=\"" + label(key.second) + "\"");
  header(out, "funnel_stage_skipped_total", "counter", "Optional stages skipped (deadline or request).");
  for (const auto& [key, n] : stage_skipped_)
    out += "funnel_stage_skipped_total{cascade=\"" + label(key.first) + "\",stage=\"" + label(key.second) + "\"} " +
           std::to_string(n) + "\n";
  header(out, "funnel_reloads_total", "counter", "Reloads of the serving version, by result.");
  out += "funnel_reloads_total{result=\"ok\"} " + std::to_string(reloads_ok_) + "\n";
  out += "funnel_reloads_total{result=\"failed\"} " + std::to_string(reloads_failed_) + "\n";
  header(out, "funnel_in_flight_requests", "gauge", "Requests being answered now.");
  out += "funnel_in_flight_requests " + std::to_string(in_flight_) + "\n";
  header(out, "funnel_serving_info", "gauge", "The serving version (value 1; its ids are labels).");
  std::string labels = "generation=\"" + std::to_string(version_.value("generation", 0)) + "\",store_version=\"" +
                       std::to_string(version_.value("store_version", 0)) + "\"";
  if (version_.contains("models"))
    for (const char* m : {"prerank", "rank"})
      if (version_["models"].contains(m))
        labels += std::string(",") + m + "_model=\"" + label(version_["models"][m].get<std::string>()) + "\"";
  out += "funnel_serving_info{" + labels + "} 1\n";
  header(out, "funnel_serving_generation", "gauge", "The serving version's generation (1 + reloads).");
  out += "funnel_serving_generation " + std::to_string(version_.value("generation", 0)) + "\n";
  return out;
}

}  // namespace funnel::serve
