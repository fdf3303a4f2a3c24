// Training of the two-tower pre-rank student (`funnel fit --stage prerank`).
// Torch-free header: the CLI includes it; the implementation uses libtorch.
//
// Losses (TECHNIQUES.md sections 2-3):
//  - in-batch contrastive InfoNCE with temperature over (query, relevant or
//    clicked doc) pairs, with one BM25 hard negative per pair added to the
//    batch's docs (SimCSE / DPR style);
//  - pairwise logistic loss on impressions: a clicked doc vs a skipped doc
//    shown above it;
//  - pairwise logistic loss on human labels, where present (higher grade
//    above lower grade).
// Works with logs, with labels only (BEIR data) or both.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace funnel::train {

struct PrerankTrainOptions {
  std::string preset = "small";           // encoder shape: tiny | small | base
  std::string matcher = "soft_attention"; // dot | soft_attention | esim
  int nq = 3, nd = 3, head_dim = 64;      // heads (dot forces 1 x 1)
  bool cosine = true;                     // L2-normalised heads: scores in [-1, 1] suit the InfoNCE temperature
  bool shared_encoder = true;
  bool use_image = true;
  bool use_author = true;
  bool split_fields = true;               // title + tags and body as two encoder channels
  int bow_buckets = 0;                    // hashed word + word-pair bag (Que2Search), e.g. 65536; 0: off
  double beta = 5.0;                      // soft_attention temperature
  int epochs = 3;
  int steps_per_epoch = 300;              // 0: one pass over the positive pairs
  int batch = 64;
  double lr = 1e-3;
  double temperature = 0.05;              // InfoNCE temperature (SimCSE uses 0.05)
  double pairwise_weight = 0.5;
  double graded_weight = 0.5;
  bool hard_negatives = true;
  std::size_t hard_negative_depth = 200;  // BM25 results a hard negative is drawn from
  std::string pooling = "mean";           // encoder pooling: mean | mean_max
  int hidden = 0, layers = 0;             // override the preset's encoder width and depth (0: the preset's)
  std::uint64_t seed = 1;
  // CPU threads. 1 by default: on a 2-core machine OpenMP's busy waiting
  // made 2 threads up to 30x slower whenever anything else ran.
  int threads = 1;
  std::string device = "cpu";
  bool resume = false;                    // continue from OUT/prerank/checkpoint.pt
  std::size_t dev_limit = 20000;          // dev examples scored per evaluation
  // Distillation from a bigger two-tower teacher (a models folder trained
  // before, TECHNIQUES.md 3): the student's positive-minus-hard-negative
  // margin follows the teacher's (MarginMSE, weight `distill_margin`), and
  // each query's softmax over the batch's docs follows the teacher's (KL at
  // temperature `distill_temperature`, weight `distill_inbatch`). Both act
  // on the scores divided by the InfoNCE `temperature` (the logits of the
  // student's own loss).
  std::string teacher;
  // Defaults from a sweep on the demo world (seed 1, 800 steps): MarginMSE at
  // 1 and 0.1 pulled the student below training alone, in-batch KL at 1 lifted
  // its label AUC.
  double distill_margin = 0.02, distill_inbatch = 1.0, distill_temperature = 1.0;
  // Child-tuning of the gradients: "" (off), "F" (Bernoulli mask, rate
  // child_rate, rescaled) or "D" (fixed child network: the child_rate share
  // of weights with the largest Fisher information over `child_fisher_batches`
  // batches, computed before the first step).
  std::string child_tuning;
  double child_rate = 0.3;
  int child_fisher_batches = 20;
  // The cascade dev check (the primary dev metric when dev qrels exist):
  // up to `cascade_queries` dev queries, BM25's top `cascade_depth` docs
  // re-scored, Recall@`cascade_keep` of what the student keeps.
  std::size_t cascade_queries = 300, cascade_depth = 1000, cascade_keep = 100;
  bool clicks_as_positives = false;       // clicked docs join the InfoNCE positives (always when there are no train qrels)
  // A models folder with OUT/pretrain (`funnel fit --stage pretrain`): the
  // encoder starts from its weights and the tokenizer is its tokenizer.
  std::string init;
  // Distillation from the cross ranker (TECHNIQUES.md 3): the scores it
  // stored on training queries' candidates (MODELS/rank/train_scores.jsonl,
  // written by `funnel fit --stage rank`; "" turns it off). For
  // `ranker_queries` queries of each batch, `ranker_list` of their stored
  // candidates are scored by the student, and KL(softmax(ranker / T) ||
  // softmax(student / InfoNCE temperature / T)) is added with a weight that
  // rises linearly to `distill_ranker` over the first `ranker_rise` of
  // training; in the last `ranker_final` share the student's own losses are
  // off (distill_schedule).
  std::string ranker_scores;
  double distill_ranker = 1.0, ranker_temperature = 1.0, ranker_rise = 0.5, ranker_final = 0.2;
  int ranker_queries = 16, ranker_list = 8;
};

struct EpochLog {
  int epoch = 0;
  double loss = 0;
  double dev_auc = 0, dev_gauc = 0;     // the primary dev metric (PrerankTrainResult::dev_metric)
  double click_auc = 0, click_gauc = 0; // on dev impressions, when the data has logs (else NaN)
  double label_auc = 0;                 // relevant dev docs vs BM25 look-alikes (NaN without dev qrels)
  // Cascade dev check (NaN without dev qrels): Recall@keep of BM25's top
  // `depth` re-scored by the student alone, and by student + w * BM25/max
  // BM25 with w fitted on the same dev queries (`fusion_weight`).
  double cascade_recall = 0, fused_recall = 0, fusion_weight = 0;
  // The same with BM25's candidates plus the student's exact top `depth`
  // (hybrid recall; docs only the student found have no BM25 score). NaN
  // for esim (scoring the whole corpus per query is too slow) or without
  // dev qrels.
  double hybrid_recall = 0, hybrid_fusion_weight = 0;
  double seconds = 0;
};

struct PrerankTrainResult {
  std::string dev_metric;        // what dev_auc measures ("click AUC on dev impressions", ...)
  double untrained_dev_auc = 0;  // the same model before any step
  EpochLog untrained;            // every dev figure of the untrained model (epoch 0; empty after a resume)
  double bm25_recall = 0;        // the cascade dev check's BM25 top-`keep` Recall (NaN without dev qrels)
  double fusion_weight = 0;      // of the best epoch, saved in OUT/prerank/fusion.json
  double best_dev_auc = 0;
  int best_epoch = 0;
  std::vector<EpochLog> epochs;
  std::filesystem::path model_dir;
  // Head report of the final model (TECHNIQUES.md 2a): the mean cosine
  // between a query's own heads (nq x nq, row-major) and between a doc's own
  // heads (nd x nd), over up to 1,000 queries and docs. Off-diagonal values
  // near 0 mean the heads hold different senses.
  std::vector<double> query_head_cosine, doc_head_cosine;
};

// Trains on the data folder `data` (BEIR layout, optional impressions.jsonl
// and human_labels.tsv) and writes OUT/prerank/{config.json, tokenizer.model,
// model.pt, checkpoint.pt, train_log.jsonl}. `log` receives progress lines.
// Throws funnel::Error on bad input or options.
PrerankTrainResult train_prerank(const std::filesystem::path& data, const std::filesystem::path& out,
                                 const PrerankTrainOptions& options,
                                 const std::function<void(const std::string&)>& log);

}  // namespace funnel::train
