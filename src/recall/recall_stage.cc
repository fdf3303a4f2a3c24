#include "recall/recall_stage.h"

#include <algorithm>
#include <unordered_map>

#include "core/config_util.h"
#include "funnel/error.h"
#include "funnel/pipeline.h"

namespace funnel::recall {
using nlohmann::json;

namespace {

// Runs each configured channel for its quota and merges the hits: a doc
// found by several channels appears once, with every channel's bit set and
// the best normalised position as its order key. Channels are interleaved by
// rank (round robin) so no channel's quota is starved by another's scores,
// whose scales differ.
class RecallStage final : public Stage {
 public:
  RecallStage(const json& cfg, const Index& index, const std::string& where) {
    detail::check_keys(cfg, {"name", "type", "channels", "keep", "fill_channel_scores"}, where);
    if (!cfg.contains("channels") || !cfg["channels"].is_array() || cfg["channels"].empty())
      throw Error(where + ": field 'channels': expected a non-empty list of {\"type\", \"quota\"}");
    auto names = index.channel_names();
    for (std::size_t i = 0; i < cfg["channels"].size(); ++i) {
      const json& c = cfg["channels"][i];
      std::string cw = where + ": channels[" + std::to_string(i) + "]";
      if (!c.is_object()) throw Error(cw + ": expected an object");
      std::string type = detail::get_string(c, "type", cw);
      const RecallChannel* ch = index.channel(type);
      if (ch) {
        detail::check_keys(c, {"type", "quota"}, cw);
      } else if (auto factory = find_channel_type(type)) {
        owned_.push_back(factory(index, c, cw));
        ch = owned_.back().get();
      } else {
        std::string have;
        for (auto& n : names) have += (have.empty() ? "" : ", ") + n;
        throw Error(cw + ": field 'type': no recall channel '" + type + "' in this index (has: " + have + ")");
      }
      auto bit = channel_bit(type);
      std::size_t quota = detail::get_size(c, "quota", cw, 1000);
      if (quota == 0) throw Error(cw + ": field 'quota': expected an integer >= 1");
      channels_.push_back({ch, quota, bit});
    }
    keep_ = detail::get_size(cfg, "keep", where, 0);
    if (cfg.contains("fill_channel_scores")) {
      if (!cfg["fill_channel_scores"].is_boolean())
        throw Error(where + ": field 'fill_channel_scores': expected true or false");
      fill_ = cfg["fill_channel_scores"].get<bool>();
    }
  }

  StageRole role() const override { return StageRole::kRecall; }
  json info() const override {
    json ch = json::array(), quota = json::object();
    for (const auto& c : channels_) {
      ch.push_back(c.channel->name());
      quota[c.channel->name()] = c.quota;
    }
    return {{"type", "recall"}, {"channels", ch}, {"quota", quota}, {"keep", keep_}};
  }

  void run(const StageContext& ctx, std::vector<Candidate>& out) const override {
    detail::check_keys(ctx.overrides, {"quota", "keep"}, "request: overrides.recall");
    std::vector<std::vector<RecallHit>> lists;
    const json* quotas = nullptr;
    if (ctx.overrides.contains("quota")) {
      quotas = &ctx.overrides["quota"];
      if (!quotas->is_object()) throw Error("request: overrides.recall.quota: expected an object {channel: n}");
      for (auto q = quotas->begin(); q != quotas->end(); ++q)
        if (std::none_of(channels_.begin(), channels_.end(), [&](const auto& c) { return c.channel->name() == q.key(); }))
          throw Error("request: overrides.recall.quota: no channel named '" + q.key() + "' in this recall stage");
    }
    for (const auto& c : channels_) {
      // A quota of 0 turns the channel off for this request.
      const std::size_t quota =
          quotas ? detail::get_size(*quotas, c.channel->name(), "request: overrides.recall.quota", c.quota) : c.quota;
      lists.push_back(quota == 0 ? std::vector<RecallHit>{} : c.channel->recall({ctx.request.query, ctx.request.user_id}, quota));
    }
    out.clear();
    std::unordered_map<std::uint32_t, std::size_t> slot;
    std::size_t longest = 0;
    for (auto& l : lists) longest = std::max(longest, l.size());
    for (std::size_t r = 0; r < longest; ++r) {
      for (std::size_t i = 0; i < lists.size(); ++i) {
        if (r >= lists[i].size()) continue;
        const RecallHit& h = lists[i][r];
        auto [it, fresh] = slot.emplace(h.row, out.size());
        if (fresh) {
          Candidate c;
          c.row = h.row;
          // With one channel the score is its own; with several, the merged
          // order is the interleaving, expressed as a decreasing score.
          c.score = lists.size() == 1 ? h.score : -static_cast<double>(out.size());
          out.push_back(std::move(c));
        }
        Candidate& c = out[it->second];
        c.channels |= 1u << channels_[i].bit;
        if (c.n_channel_scores < Candidate::kMaxChannelScores)
          c.channel_scores[c.n_channel_scores++] = {channels_[i].bit, static_cast<float>(h.score)};
      }
    }
    std::size_t keep = keep_;
    if (ctx.overrides.contains("keep")) keep = detail::get_size(ctx.overrides, "keep", "request: overrides", keep);
    if (keep > 0 && out.size() > keep) out.resize(keep);
    if (fill_ && lists.size() > 1 && !ctx.request.query.empty()) fill_channel_scores(ctx.request.query, out);
  }

 private:
  // Gives every candidate the score of each channel that can score given
  // docs (BM25 can; ANN cannot), whichever channel found it, so that the
  // pre-rank fusion judges a doc that only ANN found by its BM25 too rather
  // than by a missing score. The channel bits keep saying who found a doc.
  void fill_channel_scores(const std::string& query, std::vector<Candidate>& out) const {
    for (const auto& src : channels_) {
      std::vector<std::uint32_t> rows;
      std::vector<std::size_t> at;
      for (std::size_t j = 0; j < out.size(); ++j)
        if (!(out[j].channels & (1u << src.bit))) {
          rows.push_back(out[j].row);
          at.push_back(j);
        }
      if (rows.empty()) continue;
      const std::vector<double> scores = src.channel->score_rows(query, rows);
      if (scores.size() != rows.size()) continue;  // this channel cannot score given docs
      for (std::size_t k = 0; k < rows.size(); ++k) {
        Candidate& c = out[at[k]];
        if (c.n_channel_scores < Candidate::kMaxChannelScores)
          c.channel_scores[c.n_channel_scores++] = {src.bit, static_cast<float>(scores[k])};
      }
    }
  }

  struct Source {
    const RecallChannel* channel;
    std::size_t quota;
    std::uint32_t bit;
  };
  std::vector<Source> channels_;
  std::vector<std::unique_ptr<RecallChannel>> owned_;  // channels built from the index by a factory
  std::size_t keep_ = 0;  // 0: keep everything the channels return
  bool fill_ = true;      // fill_channel_scores
};

}  // namespace

std::unique_ptr<Stage> make_recall_stage(const json& config, const Index& index, const std::string& where) {
  return std::make_unique<RecallStage>(config, index, where);
}

}  // namespace funnel::recall
