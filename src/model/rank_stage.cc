#include "model/rank_stage.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <mutex>

#include "funnel/error.h"
#include "model/ranker_model.h"
#include "pipeline/config_util.h"

namespace funnel::model {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The corpus the ranker reads doc fields from: the stage's "corpus" (a
// corpus.jsonl or a data folder), else the data folder the ranker was
// trained on (MODELS/rank/data.json). It must hold the index's docs in the
// index's order.
std::shared_ptr<const Corpus> load_corpus(const json& cfg, const fs::path& models, const Index& index,
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

class RankStage final : public Stage {
 public:
  RankStage(const json& cfg, const Index& index, const std::string& where) {
    detail::check_keys(cfg, {"name", "type", "keep", "models", "corpus", "score_weights", "recall_weight", "recall_channel"},
                       where);
    keep_ = detail::get_size(cfg, "keep", where, 100);
    if (keep_ == 0) throw Error(where + ": field 'keep': expected an integer >= 1");
    fs::path models = cfg.contains("models") ? fs::path(detail::get_string(cfg, "models", where))
                                             : fs::path(index.models_dir());
    if (models.empty()) throw Error(where + ": field 'models': needed (the index names no models folder)");
    model_ = RankerModel::load(models, load_corpus(cfg, models, index, where));
    const auto& c = model_->config();
    weights_ = c.score_weights;
    if (cfg.contains("score_weights")) weights_ = parse_weights(cfg["score_weights"], where + ": field 'score_weights'");
    names_ = std::make_shared<std::vector<std::string>>(c.tasks);
    load_fusion(cfg, models, where);
  }

  void run(const StageContext& ctx, std::vector<Candidate>& cands) const override {
    const std::string w = "request: overrides.rank";
    detail::check_keys(ctx.overrides, {"keep", "score_weights"}, w);
    const std::size_t keep = detail::get_size(ctx.overrides, "keep", w, keep_);
    if (keep == 0) throw Error(w + ": field 'keep': expected an integer >= 1");
    std::vector<double> weights = weights_;
    if (ctx.overrides.contains("score_weights")) weights = parse_weights(ctx.overrides["score_weights"], w + ": field 'score_weights'");
    if (cands.empty()) return;
    std::vector<std::uint32_t> rows(cands.size());
    for (std::size_t i = 0; i < cands.size(); ++i) rows[i] = cands[i].row;
    std::vector<float> logits;
    {
      std::lock_guard lock(mu_);  // one batched forward pass per request
      logits = model_->predict(ctx.request.query, rows);
    }
    auto scores = model_->score(logits, weights);
    // Fusion with the recall channel's score, scaled by its best score in the
    // request, as fitted on dev in training (MODELS/rank/fusion.json).
    if (recall_weight_ > 0) {
      float top = 0, s = 0;
      for (const auto& c : cands)
        if (c.channel_score(recall_bit_, s)) top = std::max(top, s);
      if (top > 0)
        for (std::size_t i = 0; i < cands.size(); ++i)
          if (cands[i].channel_score(recall_bit_, s)) scores[i] += static_cast<float>(recall_weight_) * s / top;
    }
    const std::size_t T = names_->size();
    for (std::size_t i = 0; i < cands.size(); ++i) {
      cands[i].score = scores[i];
      cands[i].pxtr_names = names_;
      cands[i].pxtr.resize(T);
      for (std::size_t t = 0; t < T; ++t) {
        const float x = logits[i * T + t];
        // relevance: the logit (a listwise score, not a probability);
        // logged actions: their predicted probability.
        cands[i].pxtr[t] = (*names_)[t] == "relevance" ? x : 1.0f / (1.0f + std::exp(-x));
      }
    }
    const std::size_t n = std::min(keep, cands.size());
    std::partial_sort(cands.begin(), cands.begin() + static_cast<std::ptrdiff_t>(n), cands.end(),
                      [](const Candidate& a, const Candidate& b) {
                        return a.score > b.score || (a.score == b.score && a.row < b.row);
                      });
    cands.resize(n);
  }

 private:
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

  // The weight w of score = ranker + w x channel score / the request's best
  // channel score: the config's "recall_weight", else the one `funnel fit
  // --stage rank` fitted on dev (MODELS/rank/fusion.json), else 0.
  void load_fusion(const json& cfg, const fs::path& models, const std::string& where) {
    std::string channel = "bm25";
    const fs::path f = models / "rank" / "fusion.json";
    auto check = [](const json& v) { return v.is_number() && v.get<double>() >= 0 && std::isfinite(v.get<double>()); };
    if (fs::exists(f)) {
      std::ifstream in(f);
      json j = json::parse(in, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("recall_weight") || !check(j["recall_weight"]))
        throw Error(f.string() + ": expected a JSON object with a finite number 'recall_weight' >= 0");
      recall_weight_ = j["recall_weight"].get<double>();
      if (j.contains("recall_channel") && j["recall_channel"].is_string()) channel = j["recall_channel"];
    }
    if (cfg.contains("recall_weight")) {
      if (!check(cfg["recall_weight"])) throw Error(where + ": field 'recall_weight': expected a finite number >= 0");
      recall_weight_ = cfg["recall_weight"].get<double>();
    }
    if (cfg.contains("recall_channel")) channel = detail::get_string(cfg, "recall_channel", where);
    recall_bit_ = channel_bit(channel);
  }

  double recall_weight_ = 0;
  std::uint32_t recall_bit_ = 0;
  std::size_t keep_ = 100;
  std::unique_ptr<RankerModel> model_;
  std::vector<double> weights_;
  std::shared_ptr<const std::vector<std::string>> names_;
  mutable std::mutex mu_;
};

}  // namespace

std::unique_ptr<Stage> make_rank_stage(const json& cfg, const Index& index, const std::string& where) {
  return std::make_unique<RankStage>(cfg, index, where);
}

}  // namespace funnel::model
