// Stage type "dpp": {"theta": 0.9, "window": 0, "select": k, "kind":
// "category", "boost": {kind: factor}, "pair_bias": {"kindA|kindB": bias},
// "jitter": 1e-3, "epsilon": 1e-6}; per request "theta", "window", "select".
#include <algorithm>
#include <cmath>

#include "core/config_util.h"
#include "funnel/error.h"
#include "funnel/pipeline.h"
#include "rerank/dpp.h"
#include "rerank/rerank_stages.h"

namespace funnel::rerank {
using nlohmann::json;

namespace {

double get_theta(const json& j, const std::string& where, double fallback) {
  if (!j.contains("theta")) return fallback;
  if (!j["theta"].is_number() || !(j["theta"].get<double>() >= 0 && j["theta"].get<double>() <= 1))
    throw Error(where + ": field 'theta': expected a number in [0, 1]");
  return j["theta"].get<double>();
}

class DppStage final : public Stage {
 public:
  DppStage(const json& cfg, const Index& index, const std::string& where) {
    detail::check_keys(cfg, {"name", "type", "theta", "window", "select", "kind", "boost", "pair_bias", "jitter", "epsilon"},
                       where);
    store_ = index.embeddings();
    if (!store_) throw Error(where + ": the dpp stage needs doc embeddings (build the index with --models)");
    opt_.theta = get_theta(cfg, where, 0.9);
    opt_.window = detail::get_size(cfg, "window", where, 0);
    opt_.jitter = detail::get_weight(cfg, "jitter", where, opt_.jitter);
    opt_.epsilon = detail::get_weight(cfg, "epsilon", where, opt_.epsilon);
    select_ = detail::get_size(cfg, "select", where, 0);
    const auto& cats = index.category_names();
    kinds_ = cats.size();
    auto kind_of = [&](const std::string& name, const std::string& w) {
      auto it = std::find(cats.begin(), cats.end(), name);
      if (it == cats.end()) throw Error(w + ": no category '" + name + "' in the index");
      return static_cast<std::size_t>(it - cats.begin());
    };
    if (cfg.contains("kind") && detail::get_string(cfg, "kind", where) != "category")
      throw Error(where + ": field 'kind': only \"category\" is supported");
    if (cfg.contains("boost")) {
      const std::string w = where + ": field 'boost'";
      if (!cfg["boost"].is_object()) throw Error(w + ": expected an object {category: factor}");
      boost_.assign(kinds_, 1.0f);
      for (auto it = cfg["boost"].begin(); it != cfg["boost"].end(); ++it) {
        if (!it.value().is_number() || !(it.value().get<double>() > 0))
          throw Error(w + ": '" + it.key() + "': expected a number > 0");
        boost_[kind_of(it.key(), w)] = it.value().get<float>();
      }
    }
    if (cfg.contains("pair_bias")) {
      const std::string w = where + ": field 'pair_bias'";
      if (!cfg["pair_bias"].is_object()) throw Error(w + ": expected an object {\"catA|catB\": bias}");
      bias_.assign(kinds_ * kinds_, 0.0f);
      for (auto it = cfg["pair_bias"].begin(); it != cfg["pair_bias"].end(); ++it) {
        const auto bar = it.key().find('|');
        if (bar == std::string::npos || !it.value().is_number() || !std::isfinite(it.value().get<double>()))
          throw Error(w + ": '" + it.key() + "': expected \"catA|catB\": finite number");
        const std::size_t a = kind_of(it.key().substr(0, bar), w), b = kind_of(it.key().substr(bar + 1), w);
        bias_[a * kinds_ + b] = bias_[b * kinds_ + a] = it.value().get<float>();
      }
    }
    if (!boost_.empty() || !bias_.empty()) {
      kind_of_row_.resize(index.size());
      for (std::uint32_t r = 0; r < index.size(); ++r) kind_of_row_[r] = index.category_id(r);
    }
  }

  StageRole role() const override { return StageRole::kRerank; }
  json info() const override {
    return {{"type", "dpp"}, {"theta", opt_.theta}, {"window", opt_.window}, {"select", select_}};
  }

  void run(const StageContext& ctx, std::vector<Candidate>& cands) const override {
    detail::check_keys(ctx.overrides, {"theta", "window", "select"}, ctx.where());
    DppOptions o = opt_;
    o.theta = get_theta(ctx.overrides, ctx.where(), o.theta);
    o.window = detail::get_size(ctx.overrides, "window", ctx.where(), o.window);
    const std::size_t select =
        std::min(cands.size(), detail::get_size(ctx.overrides, "select", ctx.where(), select_ ? select_ : ctx.request.k));
    if (select == 0 || o.theta >= 1) return;
    const std::size_t n = cands.size(), dim = static_cast<std::size_t>(store_->spec().heads) * store_->spec().dim;
    std::vector<float> scores(n), vecs(n * dim);
    std::vector<std::uint32_t> kinds;
    for (std::size_t i = 0; i < n; ++i) {
      scores[i] = static_cast<float>(cands[i].score);
      store_->decode_row(cands[i].row, std::span<float>(vecs.data() + i * dim, dim));
      if (!kind_of_row_.empty()) kinds.push_back(kind_of_row_[cands[i].row]);
    }
    DppItems items;
    items.scores = scores;
    items.vectors = vecs;
    items.dim = dim;
    if (!kinds.empty()) {
      items.kinds = kinds;
      items.kind_boost = boost_;
      items.kind_pair_bias = bias_;
      items.n_kinds = kinds_;
    }
    const DppResult r = dpp_select(items, select, o);
    if (r.by_dpp < r.picks.size())
      ctx.note("dpp: the kernel ran out after " + std::to_string(r.by_dpp) + " of " + std::to_string(r.picks.size()) +
               " picks; the rest follow the score");
    std::vector<char> taken(n, 0);
    std::vector<Candidate> out;
    out.reserve(n);
    for (std::size_t i : r.picks) {
      taken[i] = 1;
      out.push_back(std::move(cands[i]));
    }
    for (std::size_t i = 0; i < n; ++i)
      if (!taken[i]) out.push_back(std::move(cands[i]));
    cands = std::move(out);
  }

 private:
  std::shared_ptr<const EmbeddingStore> store_;
  DppOptions opt_;
  std::size_t select_ = 0;  // 0: the request's k
  std::size_t kinds_ = 0;
  std::vector<float> boost_, bias_;
  std::vector<std::uint32_t> kind_of_row_;
};

}  // namespace

std::unique_ptr<Stage> make_dpp_stage(const json& cfg, const Index& index, const std::string& where) {
  return std::make_unique<DppStage>(cfg, index, where);
}

}  // namespace funnel::rerank
