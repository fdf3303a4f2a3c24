// Score fusion: how a scoring stage folds a recall channel's score into its
// own, and the order it keeps. One formula and one tie-break, called by the
// serving stages (funnel/stage.h, ScoringStage) and by the trainers' dev
// checks that fit the weight, so that training and serving compute the same
// score. The multi-objective fusion stages (formula, ensemble sort, learned)
// will extend this component.
//
//   fused_i = own_i + w * recall_i / max_j recall_j
//
// over the candidates j of one request; recall_i is 0 for a candidate the
// channel did not find. Dividing by the request's best recall score makes w
// independent of the channel's scale (BM25 weights grow with query length).
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace funnel {

// The fusion settings of one scoring stage: fitted on dev by the stage's
// trainer (MODELS/<stage>/fusion.json), overridden by the cascade config.
struct RecallFusion {
  double weight = 0;        // w when every candidate came from `channel` alone; 0: own score only
  // w when other channels found candidates too (hybrid recall: their
  // candidates have no score of `channel`); NaN: the same as `weight`.
  double hybrid_weight = std::nan("");
  std::string channel = "bm25";  // the recall channel whose score is fused

  // The weight for a request, given whether other channels found candidates.
  double weight_for(bool hybrid) const { return hybrid && !std::isnan(hybrid_weight) ? hybrid_weight : weight; }
};

// The fusion formula, in place: own[i] += weight * recall[i] / max(recall).
// own and recall have the same length n; recall[i] >= 0, 0 where the
// channel did not find candidate i. Nothing changes when weight <= 0 or no
// recall score is > 0. Computed in float, in this order, for every caller.
void fuse_recall_scores(std::span<float> own, std::span<const float> recall, double weight);

// The one tie-break of the cascade: a better score first, equal scores by
// the lower corpus row.
inline bool ranks_before(double score_a, std::uint32_t row_a, double score_b, std::uint32_t row_b) {
  return score_a > score_b || (score_a == score_b && row_a < row_b);
}

// Indices of the best min(n, size) entries, best first (ranks_before).
// scores and rows have the same length.
std::vector<std::size_t> best_indices(std::span<const float> scores, std::span<const std::uint32_t> rows,
                                      std::size_t n);

// The n best (row, score) pairs, best first (ranks_before).
std::vector<std::pair<std::uint32_t, float>> top_n(std::span<const std::uint32_t> rows,
                                                   std::span<const float> scores, std::size_t n);

// MODELS/<stage>/fusion.json: {"recall_weight", "recall_weight_hybrid"
// (optional), "recall_channel", and free-form provenance ("epoch",
// "fitted")}. Throws funnel::Error naming the file and the field.
RecallFusion read_fusion_file(const std::filesystem::path& path);
// Writes it atomically; `provenance` (an object) is merged in. Throws
// funnel::Error on a weight that is negative or not finite.
void write_fusion_file(const std::filesystem::path& path, const RecallFusion& fusion,
                       const nlohmann::json& provenance = nlohmann::json::object());
// `base` with the cascade config's "recall_weight" (both weights) and
// "recall_channel" applied, when present. Throws funnel::Error naming
// `where` on a bad value.
RecallFusion apply_fusion_config(RecallFusion base, const nlohmann::json& stage_config, const std::string& where);

}  // namespace funnel
