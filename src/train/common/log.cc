#include "train/common/log.h"

#include <fstream>

#include "funnel/error.h"

namespace funnel::train {

void append_json_line(const std::filesystem::path& file, const nlohmann::json& line) {
  std::ofstream out(file, std::ios::app);
  out << line.dump() << '\n';
  if (!out) throw Error(file.string() + ": cannot append to the training log");
}

void StepLog::step(std::size_t step, double loss_sum) {
  if ((step + 1) % 25 != 0 && step + 1 != steps_) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  const double per_step = secs / static_cast<double>(step + 1);
  log_("fit: epoch " + std::to_string(epoch_) + " step " + std::to_string(step + 1) + "/" + std::to_string(steps_) +
       " loss " + fmt("%.4f", loss_sum / static_cast<double>(step + 1)) + ", " + fmt("%.0f", items_ / per_step) + " " +
       unit_ + "/s, eta " + fmt("%.0f", per_step * static_cast<double>(steps_ - step - 1)) + " s");
}

}  // namespace funnel::train
