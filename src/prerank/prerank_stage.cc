#include "prerank/prerank_stage.h"

#include <filesystem>

#include "core/config_util.h"
#include "funnel/error.h"
#include "funnel/pipeline.h"
#include "funnel/prerank_scorer.h"
#include "prerank/encoders.h"

namespace funnel::prerank {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

class PrerankStage final : public ScoringStage {
 public:
  PrerankStage(const json& cfg, const Index& index, const std::string& where) : ScoringStage(cfg, 200, where) {
    detail::check_keys(cfg, {"name", "type", "keep", "models", "recall_weight", "recall_channel"}, where);
    if (!index.embeddings())
      throw Error(where + ": the index has no embeddings (build it with `funnel index --models MODELS`)");
    const fs::path models = cfg.contains("models") ? fs::path(detail::get_string(cfg, "models", where))
                                                   : fs::path(index.models_dir());
    if (models.empty()) throw Error(where + ": field 'models': needed (the index names no models folder)");
    auto model = load_matching_model(models, index.embeddings()->spec().model_id, where);
    scorer_ = std::make_unique<PrerankScorer>(index.embeddings(), scorer_options(*model, where));
    query_tower_ = make_query_encoder(std::move(model));
    // The weight of the BM25 score: the config's, else the one `funnel fit`
    // fitted on dev, else 0 (the student alone).
    const fs::path fusion_file = models / "prerank" / "fusion.json";
    if (fs::exists(fusion_file)) fusion_ = read_fusion_file(fusion_file);
    fusion_ = apply_fusion_config(fusion_, cfg, where);
  }

 private:
  StageRole role() const override { return StageRole::kPrerank; }
  void own_scores(const StageContext& ctx, std::span<Candidate> cands, std::span<float> out) const override {
    if (cands.empty()) return;
    const std::vector<float> q = query_tower_->encode(ctx.request.query);
    std::vector<std::uint32_t> rows(cands.size());
    for (std::size_t i = 0; i < cands.size(); ++i) rows[i] = cands[i].row;
    scorer_->score(q, query_tower_->heads(), rows, out);
  }

  std::shared_ptr<const QueryEncoder> query_tower_;
  std::unique_ptr<PrerankScorer> scorer_;
};

}  // namespace

std::unique_ptr<Stage> make_prerank_stage(const json& config, const Index& index, const std::string& where) {
  return std::make_unique<PrerankStage>(config, index, where);
}

}  // namespace funnel::prerank
