#include "feed/feed_stages.h"

#include <algorithm>
#include <cmath>

#include "core/config_util.h"
#include "feed/feed_features.h"
#include "feed/feed_model.h"
#include "funnel/error.h"
#include "funnel/pipeline.h"

namespace funnel::feed {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kChannelTypes[] = {"item2item", "user_ann", "follow", "trending", "revisit"};

std::shared_ptr<const FeedModel> open_model(const json& cfg, const Index& index, const std::string& where) {
  const fs::path dir = cfg.contains("model") ? fs::path(detail::get_string(cfg, "model", where)) : index.dir() / "feed";
  const LogPart as_of =
      part_from_name(cfg.contains("as_of") ? detail::get_string(cfg, "as_of", where) : "test", where + ": field 'as_of'");
  try {
    auto m = FeedModel::open(dir, as_of);
    if (m->data().corpus.docs.size() != index.size())
      throw Error("the feed's corpus has " + std::to_string(m->data().corpus.docs.size()) + " items, the index " +
                  std::to_string(index.size()) + " docs");
    return m;
  } catch (const Error& e) {
    throw Error(where + ": feed model " + dir.string() + ": " + e.what());
  }
}

std::optional<std::uint32_t> request_user(const FeedState& st, std::string_view id) {
  if (id.empty()) return std::nullopt;
  return st.user(id);
}

class FeedChannel final : public RecallChannel {
 public:
  FeedChannel(std::string name, std::shared_ptr<const FeedModel> model) : name_(std::move(name)), model_(std::move(model)) {}
  std::string name() const override { return name_; }
  std::vector<RecallHit> search(std::string_view, std::size_t) const override { return {}; }
  std::vector<RecallHit> recall(const RecallContext& ctx, std::size_t k) const override {
    const auto user = request_user(model_->state(), ctx.user_id);
    if (name_ == "user_ann") return user ? model_->user_ann(*user, k) : std::vector<RecallHit>{};
    return feed_channel_hits(model_->state(), name_, user, k);
  }

 private:
  std::string name_;
  std::shared_ptr<const FeedModel> model_;
};

// The user tower's score: user vector . item vector (0 for a user without
// a vector, whose order then stays the recall order by row).
class FeedPrerankStage final : public ScoringStage {
 public:
  FeedPrerankStage(const json& cfg, const Index& index, const std::string& where) : ScoringStage(cfg, 200, where) {
    detail::check_keys(cfg, {"name", "type", "keep", "model", "as_of", "optional", "deadline_ms"}, where);
    model_ = open_model(cfg, index, where);
    if (model_->dim() == 0) throw Error(where + ": the feed model has no user tower (train it without --no-tower)");
  }
  StageRole role() const override { return StageRole::kPrerank; }

 protected:
  void own_scores(const StageContext& ctx, std::span<Candidate> cands, std::span<float> out) const override {
    const auto user = request_user(model_->state(), ctx.request.user_id);
    const auto u = user ? model_->user_vector(*user) : std::span<const float>{};
    for (std::size_t i = 0; i < cands.size(); ++i) {
      if (u.empty()) { out[i] = 0; continue; }
      const auto v = model_->item_vector(cands[i].row);
      double d = 0;
      for (std::size_t k = 0; k < v.size(); ++k) d += static_cast<double>(u[k]) * v[k];
      out[i] = static_cast<float>(d);
    }
  }

 private:
  std::shared_ptr<const FeedModel> model_;
};

// The feed ranker: one GBDT per head over feed_features(); pXtr = the
// heads' probabilities, the stage's score = the first head's.
class FeedRankStage final : public ScoringStage {
 public:
  FeedRankStage(const json& cfg, const Index& index, const std::string& where) : ScoringStage(cfg, 50, where) {
    detail::check_keys(cfg, {"name", "type", "keep", "model", "as_of", "optional", "deadline_ms"}, where);
    model_ = open_model(cfg, index, where);
    if (model_->heads().empty()) throw Error(where + ": the feed model has no ranker (train it without --no-ranker)");
    names_ = std::make_shared<const std::vector<std::string>>(model_->heads());
  }
  StageRole role() const override { return StageRole::kRank; }
  json info() const override { return {{"heads", model_->heads()}, {"features", feed_feature_names()}}; }

 protected:
  void own_scores(const StageContext& ctx, std::span<Candidate> cands, std::span<float> out) const override {
    const auto user = request_user(model_->state(), ctx.request.user_id);
    std::vector<std::uint32_t> items(cands.size());
    for (std::size_t i = 0; i < cands.size(); ++i) items[i] = cands[i].row;
    const std::vector<float> x = feed_features(*model_, user, items);
    const auto& heads = model_->head_models();
    for (auto& c : cands) {
      c.pxtr_names = names_;
      c.pxtr.assign(heads.size(), 0.0f);
    }
    for (std::size_t h = 0; h < heads.size(); ++h) {
      const std::vector<float> p = heads[h].predict(x, items.size());
      for (std::size_t i = 0; i < cands.size(); ++i) cands[i].pxtr[h] = p[i];
    }
    for (std::size_t i = 0; i < cands.size(); ++i) out[i] = cands[i].pxtr[0];
  }

 private:
  std::shared_ptr<const FeedModel> model_;
  std::shared_ptr<const std::vector<std::string>> names_;
};

}  // namespace

bool is_feed_type(const std::string& type) {
  if (type == "feed_prerank" || type == "feed_rank") return true;
  return std::any_of(std::begin(kChannelTypes), std::end(kChannelTypes), [&](const char* c) { return type == c; });
}

void pin_feed_config(json& cascade, const std::string& model, const std::string& as_of) {
  if (!cascade.contains("stages") || !cascade["stages"].is_array()) return;
  for (auto& s : cascade["stages"]) {
    if (!s.is_object()) continue;
    if (is_feed_type(s.value("type", ""))) {
      s["model"] = model;
      s["as_of"] = as_of;
    }
    if (s.contains("channels") && s["channels"].is_array())
      for (auto& c : s["channels"])
        if (c.is_object() && is_feed_type(c.value("type", ""))) {
          c["model"] = model;
          c["as_of"] = as_of;
        }
  }
}

void add_feed_types(std::map<std::string, StageFactory>& stages, std::map<std::string, ChannelFactory>& channels) {
  for (const char* type : kChannelTypes) {
    channels[type] = [name = std::string(type)](const Index& index, const json& cfg, const std::string& where) {
      detail::check_keys(cfg, {"type", "quota", "model", "as_of"}, where);
      return std::unique_ptr<RecallChannel>(std::make_unique<FeedChannel>(name, open_model(cfg, index, where)));
    };
  }
  stages["feed_prerank"] = [](const json& cfg, const Index& index, const std::string& where) {
    return std::unique_ptr<Stage>(std::make_unique<FeedPrerankStage>(cfg, index, where));
  };
  stages["feed_rank"] = [](const json& cfg, const Index& index, const std::string& where) {
    return std::unique_ptr<Stage>(std::make_unique<FeedRankStage>(cfg, index, where));
  };
}

}  // namespace funnel::feed
