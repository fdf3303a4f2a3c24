// Stage type "rules": {"windows": [...], "caps": {...}, "select": k,
// "node_budget": 100000} (rules_config.h); per request "select". Reorders
// the first `select` places under the rules; notes in the trace say which
// rule could not be kept.
#include "core/config_util.h"
#include "funnel/error.h"
#include "funnel/pipeline.h"
#include "rerank/rerank_stages.h"
#include "rerank/rules_config.h"

namespace funnel::rerank {
using nlohmann::json;

namespace {

class RulesStage final : public Stage {
 public:
  RulesStage(const json& cfg, const Index& index, const std::string& where) : rules_(parse_rule_set(cfg, index, where)) {
    detail::check_keys(cfg, {"name", "type", "windows", "caps", "select", "node_budget"}, where);
    if (rules_.windows.empty() && rules_.caps.empty()) throw Error(where + ": no rule (give 'windows' or 'caps')");
    select_ = detail::get_size(cfg, "select", where, 0);
    budget_ = detail::get_size(cfg, "node_budget", where, budget_);
    cfg_ = cfg;
  }

  StageRole role() const override { return StageRole::kRerank; }
  // The rules as configured (rules_config.h form), so that evaluation can
  // count violations of the same rules.
  json info() const override {
    json j = {{"type", "rules"}};
    for (const char* key : {"windows", "caps"})
      if (cfg_.contains(key)) j[key] = cfg_[key];
    return j;
  }

  void run(const StageContext& ctx, std::vector<Candidate>& cands) const override {
    detail::check_keys(ctx.overrides, {"select"}, ctx.where());
    const std::size_t select =
        std::min(cands.size(), detail::get_size(ctx.overrides, "select", ctx.where(), select_ ? select_ : ctx.request.k));
    if (select == 0) return;
    std::vector<std::uint32_t> rows, authors, categories;
    for (const auto& c : cands) rows.push_back(c.row);
    rule_fields(ctx.index, rows, authors, categories);
    const RulesResult r = apply_rules({authors, categories}, select, rules_.windows, rules_.caps, budget_);
    for (const auto& n : r.notes) ctx.note(n);
    std::vector<char> taken(cands.size(), 0);
    std::vector<Candidate> out;
    out.reserve(cands.size());
    for (std::size_t i : r.picks) {
      taken[i] = 1;
      out.push_back(std::move(cands[i]));
    }
    for (std::size_t i = 0; i < cands.size(); ++i)
      if (!taken[i]) out.push_back(std::move(cands[i]));
    cands = std::move(out);
  }

 private:
  RuleSet rules_;
  json cfg_;
  std::size_t select_ = 0;
  std::size_t budget_ = 100000;
};

}  // namespace

std::unique_ptr<Stage> make_rules_stage(const json& cfg, const Index& index, const std::string& where) {
  return std::make_unique<RulesStage>(cfg, index, where);
}

}  // namespace funnel::rerank
