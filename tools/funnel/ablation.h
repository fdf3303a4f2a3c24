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
  // distill only:
  std::size_t eval_queries = 0;          // test queries evaluated (evenly spaced); 0: all
  int teacher_hidden = 64, teacher_layers = 2;  // the two-tower teacher's encoder
  int teacher_epochs = 3;                // the teacher trains this many epochs of the students' steps
  // Weights of the rows' distillation terms (on the students' logits):
  // MarginMSE hurt the student at 1 and 0.1 in a sweep on seed 1 (dev).
  double margin_weight = 0.02, inbatch_weight = 1.0;
  int rank_steps = 1000, pretrain_steps = 1000;
  std::vector<std::string> rows;         // distill: only these rows (slugs: alone, margin, inbatch, ranker, child, mlm15, mlm30, mlm45); empty: all
};

// Pre-rank: matchers x (with, without image) x seeds. See ablation_prerank.cc.
void run_prerank_ablation(const AblationOptions& options);
// Distillation: student alone, + teacher MarginMSE, + in-batch KL, + ranker
// distillation, + child-tuning, + MLM init at three mask rates, x seeds.
// See ablation_distill.cc.
void run_distill_ablation(const AblationOptions& options);

}  // namespace funnel::cli
