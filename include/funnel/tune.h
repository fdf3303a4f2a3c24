// Automatic tuning of a fusion stage's weights against simulated live
// traffic (`funnel tune`): the Cross-Entropy Method (src/tune/cem.h) with
// each candidate weight vector served on its own traffic bucket by the
// simulator (funnel/simulator.h), a reward with gain terms (watch time) and
// constraint terms (likes, follows, shares must not fall below their level
// under the hand weights by more than a threshold), a choice among the hand
// weights and the rounds' means on fresh validation traffic, and a check of
// the chosen weights against the hand weights on held-out traffic.
//
// The cascade up to the fusion stage runs once per query (its output does
// not depend on the fusion weights); each simulated request replays the
// fusion stage and every stage after it (re-rank) on those candidates with
// the candidate's weights as a per-request override.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/pipeline.h"
#include "funnel/simulator.h"

namespace funnel {

struct TuneOptions {
  std::string stage;                 // the fusion stage to tune; "" = the first one
  std::string split = "dev";         // the tuning traffic's queries
  std::string eval_split = "test";   // the held-out traffic's queries
  std::size_t rounds = 8, candidates = 12, elite = 4;
  // Inputs tuned besides the stage's weights, starting at weight 0 (e.g.
  // "category=short"; the names of fusion_inputs.h).
  std::vector<std::string> add_inputs;
  // CEM runs over effect sizes w_j * s_j (s_j: input j's spread within a
  // request); the sds below are relative to the hand weights' mean |effect|.
  double noise_floor = 0.05;         // added to the CEM sd each round
  double init_sd = 0.5;              // initial sd
  std::size_t bucket_requests = 12000; // simulated requests per candidate and round
  // Validation requests (tuning split, fresh) on which the hand weights and
  // every round's mean compete; the best is the run's answer.
  std::size_t select_requests = 100000;
  BucketUnit unit = BucketUnit::kUser;
  std::size_t baseline_requests = 40000;  // for the hand weights' constraint levels
  std::size_t eval_requests = 100000;     // held-out traffic per check
  std::size_t repeats = 3;           // independent tuning runs, each on fresh traffic
  std::uint64_t seed = 1;
  RewardSpec reward;                 // gains and constraints; the baseline is measured here
};

struct TuneRun {
  // {"round", "reward_mean", "reward_best", "weights" (the round's mean),
  // "validation_reward"}
  std::vector<nlohmann::json> rounds;
  nlohmann::json weights;              // the tuned weights: the best on validation (maybe the hand weights)
  std::string chosen;                  // "round N" or "hand"
  double hand_reward = 0, tuned_reward = 0;  // on this run's held-out traffic
  SimOutcome hand_outcome, tuned_outcome;
};

struct TuneResult {
  std::string stage, type;
  std::string eval_split;            // the held-out traffic's split
  nlohmann::json hand_weights;
  RewardSpec reward;                 // with the measured baseline
  std::vector<TuneRun> runs;         // runs[0]'s weights are the ones written
};

// Tunes stage `options.stage` of `pipeline` (a fusion stage: formula,
// ensemble_sort, ltr or gbdt with weights) with traffic from `sim`.
// `progress` gets one line per step. Throws funnel::Error on a cascade
// without such a stage, a stage without weights, or bad options.
TuneResult tune_fusion(const Pipeline& pipeline, const Simulator& sim, const TuneOptions& options,
                       const std::function<void(const std::string&)>& progress = {});

// The --json form: {"stage", "type", "rounds": [{"round", "reward_mean",
// "reward_best"}], "hand_weights", "tuned_weights", "hand_reward",
// "tuned_reward", "hand": outcome, "tuned": outcome, "constraints":
// [{"objective", "hand", "tuned", "change"}], "repeats": {"n", "tuned_mean",
// "tuned_sd", "hand_mean", "hand_sd", "runs": [...]}, "reward": spec}.
nlohmann::json tune_result_to_json(const TuneResult& result);

// A markdown summary: the weights, each run's held-out rewards and
// constraint changes, and the mean ± sd over runs.
std::string tune_result_to_markdown(const TuneResult& result);

// Writes runs[0]'s weights to MODELS/fusion/<type>.tuned.json (read by the
// fusion stage) and the reward with its baseline to MODELS/fusion/reward.json
// (read by `funnel eval --simulate`), atomically. Returns the weights file.
std::filesystem::path write_tuned_weights(const TuneResult& result, const std::filesystem::path& models);

}  // namespace funnel
