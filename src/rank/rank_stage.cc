#include "rank/rank_stage.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <mutex>

#include "core/config_util.h"
#include "funnel/error.h"
#include "funnel/pipeline.h"
#include "rank/ranker_model.h"

namespace funnel::rank {
namespace fs = std::filesystem;
using nlohmann::json;

// The corpus the ranker reads doc fields from: the stage's "corpus" (a
// corpus.jsonl or a data folder), else the data folder the ranker was
// trained on (MODELS/rank/data.json). It must hold the index's docs in the
// index's order.
std::shared_ptr<const Corpus> load_rank_corpus(const json& cfg, const fs::path& models, const Index& index,
                                               const std::string& where) {
  fs::path path;
  if (cfg.contains("corpus")) {
    path = detail::get_string(cfg, "corpus", where);
  } else {
    const fs::path dj = models / "rank" / "data.json";
    std::ifstream in(dj);
    json j = json::parse(in, nullptr, false);
    if (!in || j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_string())
      throw Error(where + ": no 'corpus' given and " + dj.string() + " does not name the training data");
    path = j["data"].get<std::string>();
  }
  if (fs::is_directory(path)) path /= "corpus.jsonl";
  if (!fs::is_regular_file(path)) throw Error(where + ": corpus " + path.string() + " not found");
  auto corpus = std::make_shared<Corpus>(read_corpus(path));
  if (corpus->docs.size() != index.size())
    throw Error(where + ": corpus " + path.string() + " has " + std::to_string(corpus->docs.size()) + " docs, the index " +
                std::to_string(index.size()));
  for (std::uint32_t r = 0; r < index.size(); ++r)
    if (corpus->docs[r].id != index.doc_id(r))
      throw Error(where + ": corpus " + path.string() + " row " + std::to_string(r) + " is doc '" + corpus->docs[r].id +
                  "', the index has '" + index.doc_id(r) + "' there");
  return corpus;
}

namespace {

class RankStage final : public ScoringStage {
 public:
  RankStage(const json& cfg, const Index& index, const std::string& where) : ScoringStage(cfg, 100, where) {
    detail::check_keys(cfg, {"name", "type", "keep", "models", "corpus", "score_weights", "recall_weight", "recall_channel"},
                       where);
    const fs::path models = cfg.contains("models") ? fs::path(detail::get_string(cfg, "models", where))
                                                   : fs::path(index.models_dir());
    if (models.empty()) throw Error(where + ": field 'models': needed (the index names no models folder)");
    model_ = RankerModel::load(models, load_rank_corpus(cfg, models, index, where));
    const auto& c = model_->config();
    weights_ = c.score_weights;
    if (cfg.contains("score_weights")) weights_ = parse_weights(cfg["score_weights"], where + ": field 'score_weights'");
    names_ = std::make_shared<std::vector<std::string>>(c.tasks);
    // The weight of the BM25 score: the config's, else the one fitted on
    // dev in training, else 0 (the ranker alone).
    const fs::path fusion_file = models / "rank" / "fusion.json";
    if (fs::exists(fusion_file)) fusion_ = read_fusion_file(fusion_file);
    fusion_ = apply_fusion_config(fusion_, cfg, where);
  }

 private:
  StageRole role() const override { return StageRole::kRank; }
  std::vector<const char*> override_keys() const override { return {"score_weights"}; }

  void own_scores(const StageContext& ctx, std::span<Candidate> cands, std::span<float> out) const override {
    std::vector<double> weights = weights_;
    if (ctx.overrides.contains("score_weights"))
      weights = parse_weights(ctx.overrides["score_weights"], ctx.where() + ": field 'score_weights'");
    if (cands.empty()) return;
    std::vector<std::uint32_t> rows(cands.size());
    for (std::size_t i = 0; i < cands.size(); ++i) rows[i] = cands[i].row;
    std::vector<float> logits;
    {
      std::lock_guard lock(mu_);  // one batched forward pass at a time: libtorch uses every core for one
      logits = model_->predict(ctx.request.query, rows);
    }
    const std::vector<float> scores = model_->score(logits, weights);
    std::copy(scores.begin(), scores.end(), out.begin());
    const std::size_t T = names_->size();
    for (std::size_t i = 0; i < cands.size(); ++i) {
      cands[i].pxtr_names = names_;
      cands[i].pxtr.resize(T);
      for (std::size_t t = 0; t < T; ++t) {
        const float x = logits[i * T + t];
        // relevance: the logit (a listwise score, not a probability);
        // logged actions: their predicted probability.
        cands[i].pxtr[t] = (*names_)[t] == "relevance" ? x : 1.0f / (1.0f + std::exp(-x));
      }
    }
  }

  // {"task": weight, ...}: tasks not named weigh 0; unknown tasks are errors.
  std::vector<double> parse_weights(const json& j, const std::string& where) const {
    if (!j.is_object()) throw Error(where + ": expected an object {task: weight}");
    const auto& tasks = model_->config().tasks;
    std::vector<double> w(tasks.size(), 0.0);
    for (auto it = j.begin(); it != j.end(); ++it) {
      auto pos = std::find(tasks.begin(), tasks.end(), it.key());
      if (pos == tasks.end()) {
        std::string known;
        for (const auto& t : tasks) known += (known.empty() ? "" : ", ") + t;
        throw Error(where + ": unknown task '" + it.key() + "' (the model predicts " + known + ")");
      }
      if (!it.value().is_number() || !std::isfinite(it.value().get<double>()))
        throw Error(where + ": the weight of '" + it.key() + "' must be a finite number");
      w[static_cast<std::size_t>(pos - tasks.begin())] = it.value().get<double>();
    }
    return w;
  }

  std::unique_ptr<RankerModel> model_;
  std::vector<double> weights_;
  std::shared_ptr<const std::vector<std::string>> names_;
  mutable std::mutex mu_;
};

}  // namespace

std::unique_ptr<Stage> make_rank_stage(const json& config, const Index& index, const std::string& where) {
  // A models folder with a LambdaMART ranker (MODELS/rank/lambdamart.json)
  // is served by the LambdaMART stage, any other by the neural ranker.
  if (config.is_object() && (!config.contains("models") || config["models"].is_string())) {
    const fs::path models = config.contains("models") ? fs::path(config["models"].get<std::string>())
                                                      : fs::path(index.models_dir());
    if (!models.empty() && fs::exists(models / "rank" / "lambdamart.json"))
      return make_lambdamart_stage(config, index, models, where);
  }
  return std::make_unique<RankStage>(config, index, where);
}

}  // namespace funnel::rank
