// The shared scaffolding of the stage interface (funnel/stage.h).
#include <algorithm>

#include "core/config_util.h"
#include "funnel/error.h"
#include "funnel/pipeline.h"
#include "funnel/stage.h"

namespace funnel {
using nlohmann::json;

void Stage::score(const StageContext&, std::span<Candidate>) const {
  throw Error("this stage does not score candidates (it has no score of its own)");
}

ScoringStage::ScoringStage(const json& cfg, std::size_t default_keep, const std::string& where) {
  keep_ = detail::get_size(cfg, "keep", where, default_keep);
  if (keep_ == 0) throw Error(where + ": field 'keep': expected an integer >= 1");
}

std::vector<float> ScoringStage::fused_scores(const StageContext& ctx, std::span<Candidate> cands) const {
  std::vector<float> scores(cands.size());
  own_scores(ctx, cands, scores);
  const double w0 = fusion_.weight_for(false);
  if (w0 > 0 || fusion_.weight_for(true) > 0) {
    // The channel's score of each candidate (0 where it did not find it);
    // hybrid when some candidates came from other channels.
    const std::uint32_t bit = channel_bit(fusion_.channel);
    std::vector<float> recall(cands.size(), 0.0f);
    bool hybrid = false;
    for (std::size_t i = 0; i < cands.size(); ++i) {
      cands[i].channel_score(bit, recall[i]);
      hybrid = hybrid || (cands[i].channels & ~(1u << bit)) != 0;
    }
    fuse_recall_scores(scores, recall, fusion_.weight_for(hybrid));
  }
  return scores;
}

void ScoringStage::score(const StageContext& ctx, std::span<Candidate> cands) const {
  const auto scores = fused_scores(ctx, cands);
  for (std::size_t i = 0; i < cands.size(); ++i) cands[i].score = scores[i];
}

void ScoringStage::run(const StageContext& ctx, std::vector<Candidate>& cands) const {
  const std::string where = ctx.where();
  std::vector<const char*> keys = override_keys();
  keys.push_back("keep");
  detail::check_keys(ctx.overrides, keys, where);
  const std::size_t keep = detail::get_size(ctx.overrides, "keep", where, keep_);
  if (keep == 0) throw Error(where + ": field 'keep': expected an integer >= 1");
  if (cands.empty()) return;
  const auto scores = fused_scores(ctx, cands);
  std::vector<std::uint32_t> rows(cands.size());
  for (std::size_t i = 0; i < cands.size(); ++i) rows[i] = cands[i].row;
  std::vector<Candidate> kept;
  kept.reserve(std::min(keep, cands.size()));
  for (std::size_t i : best_indices(scores, rows, keep)) {
    kept.push_back(std::move(cands[i]));
    kept.back().score = scores[i];
  }
  cands = std::move(kept);
}

}  // namespace funnel
