#include "core/truncate_stage.h"

#include "core/config_util.h"
#include "funnel/error.h"

namespace funnel::detail {
using nlohmann::json;

namespace {

// Keeps the first `keep` candidates (the per-stage budget).
class TruncateStage final : public Stage {
 public:
  TruncateStage(const json& cfg, const Index&, const std::string& where) {
    detail::check_keys(cfg, {"name", "type", "keep"}, where);
    if (!cfg.contains("keep")) throw Error(where + ": field 'keep': missing (expected an integer >= 1)");
    keep_ = detail::get_size(cfg, "keep", where, 0);
    if (keep_ == 0) throw Error(where + ": field 'keep': expected an integer >= 1");
  }
  void run(const StageContext& ctx, std::vector<Candidate>& c) const override {
    detail::check_keys(ctx.overrides, {"keep"}, "request: overrides.truncate");
    std::size_t keep = keep_;
    if (ctx.overrides.contains("keep")) keep = detail::get_size(ctx.overrides, "keep", "request: overrides", keep);
    if (keep == 0) throw Error("request: overrides: field 'keep': expected an integer >= 1");
    if (c.size() > keep) c.resize(keep);
  }

 private:
  std::size_t keep_;
};

}  // namespace

std::unique_ptr<Stage> make_truncate_stage(const json& config, const Index& index, const std::string& where) {
  return std::make_unique<TruncateStage>(config, index, where);
}

}  // namespace funnel::detail
