// Progress lines on stderr for long steps: rewritten in place on a terminal,
// one line per ~10% otherwise (logs stay short).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace funnel::cli {

class Progress {
 public:
  explicit Progress(std::string what) : what_(std::move(what)), tty_(::isatty(2)), t0_(Clock::now()) {}

  void operator()(std::size_t done, std::size_t total) { update(what_, done, total); }

  void update(const std::string& what, std::size_t done, std::size_t total) {
    double secs = std::chrono::duration<double>(Clock::now() - t0_).count();
    int pct = total ? static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total)) : 100;
    bool last = done >= total;
    if (!tty_ && !last && what == last_what_ && pct / 10 == last_decile_) return;
    last_decile_ = pct / 10;
    last_what_ = what;
    double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
    double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0;
    std::fprintf(stderr, "%s%s: %zu/%zu (%d%%) %.0f/s, %.1fs elapsed, eta %.1fs%s", tty_ ? "\r\033[K" : "",
                 what.c_str(), done, total, pct, rate, secs, eta, tty_ && !last ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_, last_what_;
  bool tty_;
  int last_decile_ = -1;
  Clock::time_point t0_;
};

}  // namespace funnel::cli
