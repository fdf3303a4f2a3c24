// Stage types for tests of the cascade's timing (deadlines, drain): a stage
// that sleeps and leaves its candidates alone.
#pragma once

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/stage.h"

namespace funnel::test {

// Sleeps `ms` milliseconds, keeps the order.
class SleepStage : public Stage {
 public:
  explicit SleepStage(int ms) : ms_(ms) {}
  void run(const StageContext&, std::vector<Candidate>&) const override {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms_));
  }

 private:
  int ms_;
};

// Registers the stage type "test_sleep" ({"type": "test_sleep", "ms": N}).
inline void register_sleep_stage() {
  register_stage_type("test_sleep", [](const nlohmann::json& cfg, const Index&, const std::string&) -> std::unique_ptr<Stage> {
    return std::make_unique<SleepStage>(cfg.value("ms", 0));
  });
}

}  // namespace funnel::test
