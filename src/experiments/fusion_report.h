// `funnel experiment fusion`: every fusion method (hand and tuned weights)
// and re-rank setting on the same cached cascade output and the same
// simulated traffic, in one table (nDCG@10, per-objective feedback,
// diversity, simulated reward), plus relevance against diversity as the
// DPP's theta moves (SVG).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <functional>
#include <vector>

namespace funnel::experiments {

struct FusionReportOptions {
  std::filesystem::path index, data, config;  // config: the cascade up to and including the rank stage
  std::filesystem::path out;                  // fusion.md, fusion.json, theta.svg
  std::string split = "test";
  std::size_t k = 10;                         // the page: nDCG@k, diversity@k, what the simulator shows
  std::size_t sim_requests = 20000;
  std::size_t sim_seeds = 3;                  // traffic samples (mean ± sd of the reward)
  std::vector<double> thetas = {0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0};
  double dpp_theta = 0.9;                     // the DPP rows of the table
};

// Runs it and returns the markdown (also written to OUT/fusion.md).
std::string fusion_report(const FusionReportOptions& options, const std::function<void(const std::string&)>& log);

}  // namespace funnel::experiments
