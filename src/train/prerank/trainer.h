// The two-tower student's trainer (funnel/train.h, train_prerank): one
// object per run, its member functions spread over this folder by concern:
//   trainer.cc       the epoch loop, options, resume
//   data.cc          training pairs, dev sets, BM25 hard negatives
//   dev_check.cc     dev AUCs and the cascade dev check (fits the BM25 fusion weight)
//   model.cc         the model, tokenizer and optimiser
//   epoch.cc         one epoch of steps: in-batch InfoNCE + pairwise losses
//   distill_terms.cc the teacher, the ranker's stored scores, child-tuning
//   outputs.cc       model files, checkpoints, logs, the head report
// libtorch header (src/train only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "funnel/data.h"
#include "funnel/train.h"
#include "nn/tokenizer.h"
#include "prerank/doc_features.h"
#include "prerank/torch/two_tower.h"
#include "train/common/scratch_bm25.h"
#include "train/prerank/distill.h"
#include "util/rng.h"

namespace funnel::train {

struct Pair {
  std::uint32_t query;  // index into the query list
  std::uint32_t doc;    // corpus row
};
struct Triple {
  std::uint32_t query, better, worse;
};
// One scored dev example.
struct DevItem {
  std::uint32_t query, doc;
  float label;
  std::uint64_t group;
};

// Dev queries replayed through the cascade the stage serves: BM25's top
// `depth` docs, re-scored by the student, the top `keep` kept.
struct CascadeDev {
  std::vector<std::uint32_t> query;                       // query index
  std::vector<std::vector<std::uint32_t>> rows;           // BM25 candidates, BM25 order
  std::vector<std::vector<float>> bm25;                   // their BM25 scores
  std::vector<std::unordered_set<std::uint32_t>> relevant;// rows with grade > 0
  std::vector<std::size_t> n_relevant;                    // all judged-relevant docs of the query
  double bm25_recall = 0;                                 // BM25's own top `keep`
};

class PrerankTrainer {
 public:
  PrerankTrainer(const std::filesystem::path& data, const std::filesystem::path& out, const PrerankTrainOptions& o,
                 const LogFn& log);
  PrerankTrainResult run();

 private:
  void validate();
  // Loads OUT/prerank/checkpoint.pt into the model and optimiser; sets the
  // best dev figure so far; returns the first epoch still to train.
  int resume(PrerankTrainResult& res, double& best);
  // Saves the epoch's model and fitted fusion weight as the best so far.
  void save_best(const EpochLog& e, PrerankTrainResult& res);

  void load_data();
  void load_clicks(const std::unordered_set<std::string>& train_queries,
                   const std::unordered_set<std::string>& dev_queries, bool has_train);
  void load_label_pairs(const std::unordered_set<std::string>& train_queries);

  // Without logs: dev AUC of relevant docs against BM25 look-alikes.
  void build_label_dev(const Qrels& dev);

  // Every k-th dev query (sorted ids, deterministic) with a relevant doc:
  // its BM25 candidates, their scores and the relevant rows.
  void build_cascade_dev(const Qrels& dev);

  // Re-scores the cascade dev candidates; fills cascade_recall, and the
  // best BM25 weight w on a grid with its fused_recall. With dot and
  // soft_attention it also replays hybrid recall: BM25's list plus the
  // student's own exact top `depth` over the corpus (what the ANN channel
  // approximates), docs found only by the student scored by BM25 from the
  // index, as the recall stage does at serving time; its weight is fitted
  // apart (hybrid_*).
  void evaluate_cascade(EpochLog& e);

  EpochLog evaluate_all();

  std::string describe(const EpochLog& e) const;

  // The scratch BM25 index of the corpus (hard negatives, dev lists), built
  // on first use in OUT/prerank/bm25.tmp and removed with the trainer.
  const RecallChannel& bm25();

  // One BM25 look-alike per training pair: a doc of the query's BM25 top
  // `hard_negative_depth` that is not relevant, the negative that forces the
  // student past word overlap. Deep pools match what pre-rank re-scores.
  void mine_hard_negatives();

  void build_model();
  prerank::TwoTowerConfig model_config() const;
  void check_resumable(const nlohmann::json& config) const;

  double train_epoch(int epoch);

  // The teacher's scores of the same batch: MarginMSE on each pair's
  // (positive, hard negative), KL on each query's row over the batch's docs
  // (cells masked for the student are masked for both). Both models' raw
  // scores are divided by the InfoNCE temperature first, so the losses act
  // on the logits the student's own loss uses: on raw cosine scores in
  // [-1, 1] a softmax over the batch is almost flat and margins are tiny,
  // and the distillation terms moved nothing (the first ablation run).
  torch::Tensor distill_loss(const torch::Tensor& raw, const torch::Tensor& mask,
                             const std::vector<std::uint32_t>& qrows, const std::vector<std::uint32_t>& all_docs);

  // Reads the ranker's stored scores (MODELS/rank/train_scores.jsonl) and
  // checks they came from the ranker now saved there.
  void load_ranker_scores();

  // KL between the ranker's and the student's softmax over a query's stored
  // candidates, for up to ranker_queries queries of the batch that have them
  // (others are drawn from the stored queries).
  torch::Tensor ranker_loss(const std::vector<std::uint32_t>& batch_queries, detail::Rng& rng);

  void load_teacher();

  // ChildTuning-D's Fisher information: squared gradients of the in-batch
  // loss over a few batches drawn from the seed, before any update.
  void setup_child_tuning();

  // softplus(-(s_better - s_worse)) over a random batch of triples.
  torch::Tensor pairwise_loss(const std::vector<Triple>& pool, std::size_t n, detail::Rng& rng);

  std::pair<double, double> evaluate(const std::vector<DevItem>& dev_);

  // Mean cosine matrix between the heads of one side, over a sample.
  static std::vector<double> mean_cosine(const torch::Tensor& heads);

  void head_report(PrerankTrainResult& res);

  void append_log(const EpochLog& e);

  void save_checkpoint(int epoch, double best, int best_epoch, double untrained);

  std::filesystem::path data_, dir_;
  PrerankTrainOptions o_;
  LogFn log_;
  detail::Rng rng_;
  Dataset ds_;
  std::unordered_map<std::string, std::uint32_t> query_index_;
  std::vector<Pair> positives_;
  std::vector<Triple> click_pairs_, label_pairs_;
  std::unordered_map<std::uint32_t, std::unordered_set<std::uint32_t>> relevant_;
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> hard_;
  std::vector<DevItem> dev_, click_dev_;
  bool label_dev_ = false;  // dev_ holds relevant docs vs BM25 look-alikes
  CascadeDev cascade_;
  std::string dev_metric_;
  std::unique_ptr<ScratchBm25> bm25_;
  std::unique_ptr<nn::Tokenizer> tokenizer_;
  prerank::TwoTowerConfig config_;
  prerank::DocFeatures docs_;
  std::vector<std::vector<std::int64_t>> queries_, queries_bow_;
  prerank::TwoTower model_{nullptr}, teacher_{nullptr};
  std::unique_ptr<nn::Tokenizer> teacher_tokenizer_;
  prerank::DocFeatures teacher_docs_;
  std::vector<std::vector<std::int64_t>> teacher_queries_, teacher_queries_bow_;
  std::unique_ptr<ChildTuning> child_;
  std::unordered_map<std::uint32_t, std::vector<std::pair<std::uint32_t, float>>> ranker_lists_;
  std::vector<std::uint32_t> ranker_queries_;
  std::string ranker_model_id_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
};

}  // namespace funnel::train
