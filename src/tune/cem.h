// The Cross-Entropy Method for maximising a noisy reward over a vector of
// weights (Rubinstein 1999; the weight search of industrial fusion tuning):
// keep a Gaussian (mean, per-coordinate sd) around the current weights;
// each round, draw N candidates, evaluate them (the caller serves each on
// its own traffic bucket), refit mean and sd on the top K, and add a small
// noise floor to the sd so that the search never collapses on a lucky draw.
// The answer is the final mean (more robust to noise than the best single
// draw).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace funnel::tune {

struct CemOptions {
  std::size_t rounds = 8;
  std::size_t candidates = 12;   // N per round
  std::size_t elite = 4;         // K, refit on the best K
  double noise_floor = 0.02;     // added to every sd after the refit
  double smoothing = 0.0;        // new = (1 - s) * refit + s * old, for mean and sd
  bool keep_mean = true;         // the current mean is one of the N candidates
  std::uint64_t seed = 1;
};

struct CemRound {
  std::size_t round = 0;         // 1-based
  double reward_mean = 0;        // over the round's candidates
  double reward_best = 0;
  std::vector<double> mean, sd;  // after the refit
};

struct CemResult {
  std::vector<double> mean;      // the answer
  std::vector<CemRound> rounds;
};

// Evaluates one round's candidates, returning one reward each (higher is better).
using CemEvaluate = std::function<std::vector<double>(const std::vector<std::vector<double>>& candidates)>;

// Maximises from (mean0, sd0) (same size, sd0 > 0). Throws funnel::Error on
// bad options (elite == 0 or > candidates, sizes differ, an evaluation
// returning the wrong count or a non-finite reward).
CemResult cem_maximise(std::vector<double> mean0, std::vector<double> sd0, const CemEvaluate& evaluate,
                       const CemOptions& options, const std::function<void(const CemRound&)>& progress = {});

}  // namespace funnel::tune
