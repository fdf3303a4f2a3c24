#include "tune/cem.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "funnel/error.h"
#include "util/rng.h"

namespace funnel::tune {

CemResult cem_maximise(std::vector<double> mean, std::vector<double> sd, const CemEvaluate& evaluate,
                       const CemOptions& o, const std::function<void(const CemRound&)>& progress) {
  const std::size_t d = mean.size();
  if (d == 0 || sd.size() != d) throw Error("cem: mean and sd must have the same non-zero size");
  for (double s : sd)
    if (!(s > 0) || !std::isfinite(s)) throw Error("cem: every initial sd must be > 0");
  if (o.candidates < 2 || o.elite == 0 || o.elite > o.candidates)
    throw Error("cem: need candidates >= 2 and 1 <= elite <= candidates (got " + std::to_string(o.candidates) + ", " +
                std::to_string(o.elite) + ")");
  if (o.smoothing < 0 || o.smoothing >= 1) throw Error("cem: smoothing must be in [0, 1)");
  detail::Rng rng(o.seed);
  CemResult result;
  for (std::size_t round = 1; round <= o.rounds; ++round) {
    std::vector<std::vector<double>> cand(o.candidates, std::vector<double>(d));
    for (std::size_t c = 0; c < o.candidates; ++c)
      for (std::size_t k = 0; k < d; ++k)
        cand[c][k] = (o.keep_mean && c == 0) ? mean[k] : mean[k] + sd[k] * rng.normal();
    const std::vector<double> rewards = evaluate(cand);
    if (rewards.size() != cand.size())
      throw Error("cem: the evaluation returned " + std::to_string(rewards.size()) + " rewards for " +
                  std::to_string(cand.size()) + " candidates");
    for (double r : rewards)
      if (!std::isfinite(r)) throw Error("cem: the evaluation returned a non-finite reward");
    std::vector<std::size_t> order(cand.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return rewards[a] > rewards[b]; });
    for (std::size_t k = 0; k < d; ++k) {
      double m = 0, v = 0;
      for (std::size_t e = 0; e < o.elite; ++e) m += cand[order[e]][k];
      m /= static_cast<double>(o.elite);
      for (std::size_t e = 0; e < o.elite; ++e) v += (cand[order[e]][k] - m) * (cand[order[e]][k] - m);
      const double s = std::sqrt(v / static_cast<double>(o.elite)) + o.noise_floor;
      mean[k] = (1 - o.smoothing) * m + o.smoothing * mean[k];
      sd[k] = (1 - o.smoothing) * s + o.smoothing * sd[k];
    }
    CemRound r;
    r.round = round;
    r.reward_mean = std::accumulate(rewards.begin(), rewards.end(), 0.0) / static_cast<double>(rewards.size());
    r.reward_best = rewards[order[0]];
    r.mean = mean;
    r.sd = sd;
    if (progress) progress(r);
    result.rounds.push_back(std::move(r));
  }
  result.mean = mean;
  return result;
}

}  // namespace funnel::tune
