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
    detail::check_keys(cfg, {"name", "type", "channels", "keep"}, where);
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
  }

  StageRole role() const override { return StageRole::kRecall; }

  void run(const StageContext& ctx, std::vector<Candidate>& out) const override {
    detail::check_keys(ctx.overrides, {"quota", "keep"}, "request: overrides.recall");
    std::vector<std::vector<RecallHit>> lists;
    for (const auto& c : channels_) {
      std::size_t quota = c.quota;
      if (ctx.overrides.contains("quota")) {
        const json& q = ctx.overrides["quota"];
        if (!q.is_object()) throw Error("request: overrides.recall.quota: expected an object {channel: n}");
        if (q.contains(c.channel->name()))
          quota = detail::get_size(q, c.channel->name(), "request: overrides.recall.quota", quota);
        if (quota == 0) throw Error("request: overrides.recall.quota." + c.channel->name() + ": expected >= 1");
      }
      lists.push_back(c.channel->search(ctx.request.query, quota));
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
  }

 private:
  struct Source {
    const RecallChannel* channel;
    std::size_t quota;
    std::uint32_t bit;
  };
  std::vector<Source> channels_;
  std::vector<std::unique_ptr<RecallChannel>> owned_;  // channels built from the index by a factory
  std::size_t keep_ = 0;  // 0: keep everything the channels return
};

}  // namespace

std::unique_ptr<Stage> make_recall_stage(const json& config, const Index& index, const std::string& where) {
  return std::make_unique<RecallStage>(config, index, where);
}

}  // namespace funnel::recall
