#include "model/prerank_stage.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <mutex>

#include "funnel/ann.h"
#include "funnel/error.h"
#include "funnel/pipeline.h"
#include "funnel/prerank_scorer.h"
#include "model/prerank_model.h"
#include "model/rank_stage.h"
#include "pipeline/config_util.h"

namespace funnel::model {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

class ModelDocEncoder final : public DocEncoder {
 public:
  explicit ModelDocEncoder(const fs::path& dir) : dir_(dir), model_(PrerankModel::load(dir)) {}
  std::string model_id() const override { return model_->model_id(); }
  std::string models_dir() const override { return dir_.string(); }
  std::uint32_t heads() const override { return static_cast<std::uint32_t>(model_->config().nd); }
  std::uint32_t dim() const override { return static_cast<std::uint32_t>(model_->config().head_dim); }
  std::vector<float> encode(const Corpus& corpus, const ProgressFn& progress) const override {
    return model_->encode_docs(corpus, progress);
  }

 private:
  fs::path dir_;
  std::unique_ptr<PrerankModel> model_;
};

class PrerankStage final : public Stage {
 public:
  PrerankStage(const json& cfg, const Index& index, const std::string& where) {
    detail::check_keys(cfg, {"name", "type", "keep", "models", "recall_weight", "recall_channel"}, where);
    keep_ = detail::get_size(cfg, "keep", where, 200);
    if (keep_ == 0) throw Error(where + ": field 'keep': expected an integer >= 1");
    if (!index.embeddings())
      throw Error(where + ": the index has no embeddings (build it with `funnel index --models MODELS`)");
    fs::path models = cfg.contains("models") ? fs::path(detail::get_string(cfg, "models", where))
                                             : fs::path(index.models_dir());
    model_ = PrerankModel::load(models);
    load_fusion(cfg, models, where);
    const auto& store = *index.embeddings();
    if (store.spec().model_id != model_->model_id())
      throw Error(where + ": the index embeddings were encoded by model " + store.spec().model_id + ", but " +
                  models.string() + " holds " + model_->model_id() + " (run `funnel index --refresh`)");
    const auto& c = model_->config();
    ScorerOptions so;
    so.matcher = parse_matcher(c.matcher, where);
    if (so.matcher == Matcher::kEsim) so.esim = model_->esim_weights();
    so.beta = static_cast<float>(c.beta);
    scorer_ = std::make_unique<PrerankScorer>(index.embeddings(), so);
  }

  void run(const StageContext& ctx, std::vector<Candidate>& cands) const override {
    detail::check_keys(ctx.overrides, {"keep"}, "request: overrides.prerank");
    std::size_t keep = detail::get_size(ctx.overrides, "keep", "request: overrides.prerank", keep_);
    if (keep == 0) throw Error("request: overrides.prerank: field 'keep': expected an integer >= 1");
    if (cands.empty()) return;
    std::vector<float> q;
    {
      std::lock_guard lock(mu_);  // one query-tower pass per request
      q = model_->encode_queries({ctx.request.query});
    }
    std::vector<std::uint32_t> rows(cands.size());
    for (std::size_t i = 0; i < cands.size(); ++i) rows[i] = cands[i].row;
    std::vector<float> scores(cands.size());
    scorer_->score(q, static_cast<std::uint32_t>(model_->config().nq), rows, scores);
    // Fusion with the recall channel's score, scaled by its best score in
    // the request (as in training's fit of the weight). Candidates found by
    // other channels too (hybrid recall) get the weight fitted for that case.
    bool hybrid = false;
    for (const auto& c : cands) hybrid = hybrid || (c.channels & ~(1u << recall_bit_)) != 0;
    const double w = hybrid ? hybrid_weight_ : recall_weight_;
    if (w > 0) {
      float top = 0, s = 0;
      for (const auto& c : cands)
        if (c.channel_score(recall_bit_, s)) top = std::max(top, s);
      if (top > 0)
        for (std::size_t i = 0; i < cands.size(); ++i)
          if (cands[i].channel_score(recall_bit_, s)) scores[i] += static_cast<float>(w) * s / top;
    }
    for (std::size_t i = 0; i < cands.size(); ++i) cands[i].score = scores[i];
    std::size_t n = std::min(keep, cands.size());
    std::partial_sort(cands.begin(), cands.begin() + static_cast<std::ptrdiff_t>(n), cands.end(),
                      [](const Candidate& a, const Candidate& b) {
                        return a.score > b.score || (a.score == b.score && a.row < b.row);
                      });
    cands.resize(n);
  }

 private:
  // The weight w of score = student + w * channel score / the request's best
  // channel score: the config's "recall_weight", else the one `funnel fit`
  // fitted on dev (MODELS/prerank/fusion.json: "recall_weight" for
  // candidates from the channel alone, "recall_weight_hybrid" when other
  // channels found some), else 0 (student alone).
  void load_fusion(const json& cfg, const fs::path& models, const std::string& where) {
    std::string channel = "bm25";
    fs::path f = models / "prerank" / "fusion.json";
    if (fs::exists(f)) {
      std::ifstream in(f);
      json j = json::parse(in, nullptr, false);
      auto weight = [&](const char* key, double& out) {
        if (!j.contains(key)) return;
        if (!j[key].is_number() || !(j[key].get<double>() >= 0) || !std::isfinite(j[key].get<double>()))
          throw Error(f.string() + ": field '" + key + "': expected a finite number >= 0");
        out = j[key].get<double>();
      };
      if (j.is_discarded() || !j.is_object() || !j.contains("recall_weight"))
        throw Error(f.string() + ": expected a JSON object with a number 'recall_weight'");
      weight("recall_weight", recall_weight_);
      hybrid_weight_ = recall_weight_;
      weight("recall_weight_hybrid", hybrid_weight_);
      if (j.contains("recall_channel") && j["recall_channel"].is_string()) channel = j["recall_channel"];
    }
    if (cfg.contains("recall_weight")) {
      if (!cfg["recall_weight"].is_number() || !(cfg["recall_weight"].get<double>() >= 0) ||
          !std::isfinite(cfg["recall_weight"].get<double>()))
        throw Error(where + ": field 'recall_weight': expected a finite number >= 0");
      recall_weight_ = hybrid_weight_ = cfg["recall_weight"].get<double>();
    }
    if (cfg.contains("recall_channel")) channel = detail::get_string(cfg, "recall_channel", where);
    recall_bit_ = channel_bit(channel);
  }

  std::size_t keep_;
  double recall_weight_ = 0, hybrid_weight_ = 0;
  std::uint32_t recall_bit_ = 0;
  std::unique_ptr<PrerankModel> model_;
  std::unique_ptr<PrerankScorer> scorer_;
  mutable std::mutex mu_;
};

// The query tower as a QueryEncoder for the ANN channel.
class ModelQueryEncoder final : public QueryEncoder {
 public:
  explicit ModelQueryEncoder(std::unique_ptr<PrerankModel> m) : model_(std::move(m)) {}
  std::uint32_t heads() const override { return static_cast<std::uint32_t>(model_->config().nq); }
  std::uint32_t dim() const override { return static_cast<std::uint32_t>(model_->config().head_dim); }
  std::vector<float> encode(std::string_view query) const override {
    std::lock_guard lock(mu_);
    return model_->encode_queries({std::string(query)});
  }

 private:
  std::unique_ptr<PrerankModel> model_;
  mutable std::mutex mu_;
};

std::unique_ptr<RecallChannel> make_ann_channel(const Index& index, const json& cfg, const std::string& where) {
  detail::check_keys(cfg, {"type", "quota", "ef_search", "nprobe"}, where);
  if (!index.embeddings() || !fs::exists(index.dir() / "ann.faiss"))
    throw Error(where + ": the index has no ANN index (build it with `funnel index --models MODELS`)");
  auto model = PrerankModel::load(index.models_dir());
  if (model->model_id() != index.embeddings()->spec().model_id)
    throw Error(where + ": the index embeddings were encoded by model " + index.embeddings()->spec().model_id +
                ", but " + index.models_dir() + " holds " + model->model_id() + " (run `funnel index --refresh`)");
  AnnOptions o;
  o.ef_search = static_cast<int>(detail::get_size(cfg, "ef_search", where, static_cast<std::size_t>(o.ef_search)));
  o.ivf_nprobe = static_cast<int>(detail::get_size(cfg, "nprobe", where, static_cast<std::size_t>(o.ivf_nprobe)));
  return open_ann_channel(index.dir() / "ann.faiss", std::make_shared<ModelQueryEncoder>(std::move(model)),
                          index.embeddings()->spec().heads, o);
}

}  // namespace

void register_model_stages() {
  register_channel_type("ann", make_ann_channel);
  register_stage_type("prerank", [](const json& c, const Index& i, const std::string& w) -> std::unique_ptr<Stage> {
    return std::make_unique<PrerankStage>(c, i, w);
  });
  register_stage_type("rank", make_rank_stage);
}

std::unique_ptr<DocEncoder> make_doc_encoder(const fs::path& models_dir) {
  return std::make_unique<ModelDocEncoder>(models_dir);
}

}  // namespace funnel::model
