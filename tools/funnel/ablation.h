// Ablations run by `funnel eval --ablation NAME`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/prerank_trainer.h"

namespace funnel::cli {

struct AblationOptions {
  std::string data, out;
  std::vector<std::uint64_t> seeds{1, 2, 3};
  std::vector<std::string> matchers{"dot", "soft_attention", "esim"};
  std::size_t depth = 1000, keep = 100;  // BM25 candidates, and what pre-rank keeps
  bool force = false;                    // reuse a non-empty OUT (finished runs are kept)
  train::PrerankTrainOptions train;      // matcher, use_image and seed are set per run
};

// Pre-rank: matchers x (with, without image) x seeds. See ablation_prerank.cc.
void run_prerank_ablation(const AblationOptions& options);

}  // namespace funnel::cli
