// Progress lines and JSON logs shared by the trainers. Torch-free.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "funnel/train.h"

namespace funnel::train {

// printf-style formatting of one number, e.g. fmt("%.4f", x).
inline std::string fmt(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

// A number for a JSON log: null for NaN (a figure that does not apply).
inline nlohmann::json num(double x) { return std::isnan(x) ? nlohmann::json() : nlohmann::json(x); }

// Appends one line to a JSONL log (OUT/<stage>/train_log.jsonl).
void append_json_line(const std::filesystem::path& file, const nlohmann::json& line);

// The every-25-steps progress line of a training epoch:
// "fit: epoch E step S/N loss L, R UNIT/s, eta T s".
class StepLog {
 public:
  StepLog(const LogFn& log, int epoch, std::size_t steps, double items_per_step, std::string unit)
      : log_(log), epoch_(epoch), steps_(steps), items_(items_per_step), unit_(std::move(unit)),
        t0_(std::chrono::steady_clock::now()) {}
  // Call after each step with the loss so far summed over the epoch.
  void step(std::size_t step, double loss_sum);

 private:
  const LogFn& log_;
  int epoch_;
  std::size_t steps_;
  double items_;
  std::string unit_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace funnel::train
