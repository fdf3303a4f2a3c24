// Ablations run by `funnel experiment ablation NAME`: each trains variants of
// the pre-rank student over seeds and evaluates the cascade with each.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "funnel/data.h"
#include "funnel/eval.h"
#include "funnel/index.h"
#include "funnel/train.h"

namespace funnel::experiments {

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

// The defaults `funnel experiment ablation` starts from: a tiny student
// trained 1 epoch of 1,000 steps.
AblationOptions default_ablation_options();

// Pre-rank: matchers x (with, without image) x seeds. See ablation_prerank.cc.
void run_prerank_ablation(const AblationOptions& options);
// Distillation: student alone, + teacher MarginMSE, + in-batch KL, + ranker
// distillation, + child-tuning, + MLM init at three mask rates, x seeds.
// See ablation_distill.cc.
void run_distill_ablation(const AblationOptions& options);

// What both ablations read: the data, the test qrels, and the logs and human
// labels that give the pre-rank stage its AUCs.
struct AblationData {
  Dataset ds;
  Qrels test, human;
  std::vector<Impression> impressions;
  // Options for evaluate() with the final list cut at `keep` and the AUC
  // inputs that exist (pointers into this object).
  EvalOptions eval_options(std::size_t keep) const;
};
AblationData load_ablation_data(const std::filesystem::path& data);

// A finished run of an interrupted ablation is reused when its result file
// records the same setup: true and the result in `row` then.
bool finished_run(const std::filesystem::path& result, const nlohmann::json& setup, nlohmann::json& row);

// A copy of the BM25 index `bm25_index` at `dest` with the student of
// `models` encoded into it (embeddings version 1), opened.
std::shared_ptr<const Index> index_for_student(const std::filesystem::path& bm25_index, const std::filesystem::path& dest,
                                               const Corpus& corpus, const std::filesystem::path& models);

}  // namespace funnel::experiments
