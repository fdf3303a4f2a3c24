// The stage interface of the cascade: what a stage is given, what it
// declares, and how a stage type or a recall channel type is registered by
// name so that a cascade config (docs/formats.md, "Cascade config") can pick
// it. The built-in types (recall, truncate, prerank, rank; channels bm25 and
// ann) are registered before any pipeline is built; new types register a
// factory and need no change to the pipeline.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/candidate.h"
#include "funnel/fusion.h"
#include "funnel/index.h"

namespace funnel {

struct Request;

// Per-request state handed to stages.
struct StageContext {
  const Index& index;
  const Request& request;
  const nlohmann::json& overrides;  // this stage's slice of Request::overrides ({} if none)
  std::string_view stage = {};      // the stage's name in the cascade, for error messages
  // Where a stage leaves notes for the request's trace (StageTrace::notes),
  // e.g. "rule author max 1 per 3: unsatisfiable"; nullptr: not wanted.
  std::vector<std::string>* notes = nullptr;

  void note(std::string text) const {
    if (notes) notes->push_back(std::move(text));
  }

  // "request: overrides.STAGE", the place errors about overrides name.
  std::string where() const { return "request: overrides." + std::string(stage); }
};

// What a stage is in the funnel, declared by the stage itself, so that
// callers (the evaluator's order consistency of pre-rank with rank) never
// need to know stage type names.
enum class StageRole { kOther, kRecall, kPrerank, kRank, kFusion, kRerank };

// One step of the cascade. Implementations are immutable after construction
// and thread-safe: run() and score() may be called concurrently.
class Stage {
 public:
  virtual ~Stage() = default;

  // Replaces `candidates` by the stage's output, best first, and sets each
  // kept candidate's `score`. Throws funnel::Error naming the request field
  // on a bad override.
  virtual void run(const StageContext& ctx, std::vector<Candidate>& candidates) const = 0;

  // True when the stage gives every candidate a model score of its own (the
  // pre-rank and rank stages): offline evaluation then measures its AUCs
  // and order consistency through score().
  virtual bool scores() const { return false; }
  // The stage's place in the funnel (kOther unless it says otherwise).
  virtual StageRole role() const { return StageRole::kOther; }
  // What the stage is running with, for callers that show or tune it (the
  // fusion stages: their weights and where they came from); {} by default.
  virtual nlohmann::json info() const { return nlohmann::json::object(); }

  // Scores `candidates` exactly as run() would, without dropping or
  // reordering any: sets each one's `score` (and pXtr where the stage
  // predicts them). Throws funnel::Error unless scores().
  virtual void score(const StageContext& ctx, std::span<Candidate> candidates) const;
};

// The shared part of every stage that scores all its candidates and keeps
// the best (pre-rank, rank): the `keep` option and its per-request override,
// the fusion of the stage's own score with a recall channel's score
// (funnel/fusion.h), and the order (score descending, then row ascending).
// A subclass computes its own scores in own_scores().
class ScoringStage : public Stage {
 public:
  bool scores() const final { return true; }
  void run(const StageContext& ctx, std::vector<Candidate>& candidates) const final;
  void score(const StageContext& ctx, std::span<Candidate> candidates) const final;

 protected:
  // Reads "keep" from the stage config `cfg` (default `default_keep`, must
  // be >= 1); `where` names the config place in errors.
  ScoringStage(const nlohmann::json& cfg, std::size_t default_keep, const std::string& where);

  // The stage's own score of each candidate (out[i] for candidates[i]); may
  // also set the candidates' pXtr. The request's overrides for this stage
  // are in ctx.overrides.
  virtual void own_scores(const StageContext& ctx, std::span<Candidate> candidates, std::span<float> out) const = 0;
  // Override keys the stage accepts besides "keep" (checked before scoring).
  virtual std::vector<const char*> override_keys() const { return {}; }

  // How the recall channel's score joins the stage's own (weight 0: not at
  // all). Set by the subclass's constructor.
  RecallFusion fusion_;

 private:
  std::size_t keep_;
  std::vector<float> fused_scores(const StageContext& ctx, std::span<Candidate> candidates) const;
};

// Builds a stage from its config object; `where` names the config place for
// errors. Throws funnel::Error on a bad config.
using StageFactory = std::function<std::unique_ptr<Stage>(
    const nlohmann::json& config, const Index& index, const std::string& where)>;
// Registers a stage type; later registrations of the same name replace it.
void register_stage_type(const std::string& type, StageFactory factory);
// The registered stage types, sorted.
std::vector<std::string> stage_types();

// Recall channels that are not part of the index files but built from them
// at pipeline construction (e.g. "ann", which needs the query tower), chosen
// by the `type` of a recall stage's channel entry.
using ChannelFactory = std::function<std::unique_ptr<RecallChannel>(
    const Index& index, const nlohmann::json& config, const std::string& where)>;
void register_channel_type(const std::string& type, ChannelFactory factory);
// The factory registered for a channel type, or an empty function.
ChannelFactory find_channel_type(const std::string& type);

// A process-wide bit per channel name for Candidate::channels (at most 32
// names; throws funnel::Error beyond).
std::uint32_t channel_bit(const std::string& name);
// The name of a bit, or "?" for a bit no name has.
std::string channel_name_of_bit(std::uint32_t bit);

}  // namespace funnel
