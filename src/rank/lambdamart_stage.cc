// Stage type "rank" served by LambdaMART (rank_stage.h): the lexical
// features of every candidate (rank/lexical_ranker.h, over the index's BM25
// and the corpus), the trees' score, fused with BM25 by ScoringStage.
#include <fstream>

#include "core/config_util.h"
#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "rank/lexical_ranker.h"
#include "rank/rank_stage.h"

namespace funnel::rank {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The index's BM25 options with the RM3 settings the ranker was trained
// with (MODELS/rank/lexical.json).
Bm25Options feature_options(const Index& index, const fs::path& models, const std::string& where) {
  const json& m = index.manifest();
  Bm25Options o;
  if (m.contains("channels") && m["channels"].contains("bm25"))
    o = bm25_options_from_json(m["channels"]["bm25"].value("options", json::object()), where + ": index bm25 options");
  const fs::path file = models / "rank" / "lexical.json";
  std::ifstream in(file);
  const json j = json::parse(in, nullptr, false);
  if (!in || j.is_discarded() || !j.is_object() || !j.contains("prf"))
    throw Error(file.string() + ": missing or not a LambdaMART feature file (retrain with funnel fit --ranker lambdamart)");
  const Bm25Options prf = bm25_options_from_json(j["prf"], file.string() + ": field 'prf'");
  o.prf_docs = prf.prf_docs;
  o.prf_terms = prf.prf_terms;
  o.prf_query_weight = prf.prf_query_weight;
  return o;
}

class LambdaMartStage final : public ScoringStage {
 public:
  LambdaMartStage(const json& cfg, const Index& index, const fs::path& models, const std::string& where)
      : ScoringStage(cfg, 100, where), model_(fusion::GbdtModel::load(models / "rank" / "lambdamart.json")) {
    detail::check_keys(cfg, {"name", "type", "keep", "models", "corpus", "recall_weight", "recall_channel"}, where);
    if (model_.feature_names() != LexicalFeatureSet::names())
      throw Error((models / "rank" / "lambdamart.json").string() +
                  ": trained on other features than this funnel computes; retrain (funnel fit --ranker lambdamart)");
    features_ = std::make_unique<LexicalFeatureSet>(index.dir() / "bm25", feature_options(index, models, where),
                                                    load_rank_corpus(cfg, models, index, where));
    const fs::path fusion_file = models / "rank" / "fusion.json";
    if (fs::exists(fusion_file)) fusion_ = read_fusion_file(fusion_file);
    fusion_ = apply_fusion_config(fusion_, cfg, where);
  }

 private:
  StageRole role() const override { return StageRole::kRank; }

  void own_scores(const StageContext& ctx, std::span<Candidate> cands, std::span<float> out) const override {
    if (cands.empty()) return;
    std::vector<std::uint32_t> rows(cands.size());
    for (std::size_t i = 0; i < cands.size(); ++i) rows[i] = cands[i].row;
    std::vector<float> x, bm25;
    features_->compute(ctx.request.query, rows, x, bm25);
    const auto s = model_.predict(x, rows.size(), true);
    for (std::size_t i = 0; i < cands.size(); ++i) {
      out[i] = s[i];
      cands[i].pxtr_names = names_;
      cands[i].pxtr.assign(1, s[i]);
    }
  }

  fusion::GbdtModel model_;
  std::unique_ptr<LexicalFeatureSet> features_;
  std::shared_ptr<const std::vector<std::string>> names_ =
      std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"relevance"});
};

}  // namespace

std::unique_ptr<Stage> make_lambdamart_stage(const json& config, const Index& index, const fs::path& models,
                                             const std::string& where) {
  return std::make_unique<LambdaMartStage>(config, index, models, where);
}

}  // namespace funnel::rank
