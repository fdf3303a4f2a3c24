// Training the cascade's models: the two-tower pre-rank student, the cross
// ranker and a masked-language-model pre-trained encoder. Each trainer reads
// a data folder (docs/formats.md) and writes one subfolder of a models
// folder (MODELS/prerank, MODELS/rank, MODELS/pretrain) that the serving
// stages load (funnel/engine.h). The techniques and their papers are in
// docs/techniques.md. Entry points throw funnel::Error on bad input or
// options; `log` receives progress lines. Torch-free header: the
// implementations live in src/train and use libtorch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace funnel::train {

// Receives one progress line at a time.
using LogFn = std::function<void(const std::string&)>;

// ---------------------------------------------------------------------------
// The pre-rank student (`funnel fit --stage prerank`)
//
// Losses (docs/techniques.md, sections 2 and 5):
//  - in-batch contrastive InfoNCE with temperature over (query, relevant or
//    clicked doc) pairs, with one BM25 hard negative per pair added to the
//    batch's docs (SimCSE / DPR style);
//  - pairwise logistic loss on impressions: a clicked doc vs a skipped doc
//    shown above it;
//  - pairwise logistic loss on human labels, where present (higher grade
//    above lower grade).
// Works with logs, with labels only (BEIR data) or both.

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
  // before, docs/techniques.md, section 5): the student's positive-minus-hard-negative
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
  // Distillation from the cross ranker (docs/techniques.md, section 5): the scores it
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
  // (hybrid recall; docs only the student found get their BM25 from the
  // index, as at serving time). NaN
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
  // Head report of the final model (docs/techniques.md, section 3): the mean cosine
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
                                 const LogFn& log);

// ---------------------------------------------------------------------------
// The cross ranker (`funnel fit --stage rank`)
//
// Examples (docs/techniques.md, section 6):
//  - relevance: per training query, its BM25 top `candidate_depth` docs with
//    their qrels grades (unjudged = 0); a step samples `list_size` of them
//    per query (at least one relevant) and applies a listwise softmax loss
//    whose target is proportional to 2^grade - 1 (what nDCG rewards);
//  - logged feedback (click, watch, finish, like, share, follow): pointwise
//    binary cross-entropy on training-query impressions, one head each.
// The click-history features of a training query come from the logs of the
// other half of the training queries (out-of-fold), so the model cannot
// learn to read its own labels back; serving uses all training logs.

struct RankTrainOptions {
  std::string preset = "tiny";        // encoder shape: tiny | small | base
  int max_len = 64;                   // pair tokens: [CLS] query [SEP] title tags [SEP] body
  bool use_text = true;               // the encoder tower
  bool use_features = true;           // the cross features
  std::vector<int> dnn = {64, 32};
  // Loss weight per task; tasks the data lacks are dropped. Unlisted tasks
  // the data has get the default (relevance 1, click 0.5, the rest 0.2).
  std::map<std::string, double> task_weights;
  int epochs = 2;
  int steps_per_epoch = 400;          // 0: one pass over the training queries
  int queries_per_step = 8, list_size = 16;
  int impressions_per_step = 64;
  std::size_t candidate_depth = 100;  // BM25 results per training query
  double lr = 1e-3;
  std::uint64_t seed = 1;
  int threads = 1;
  std::string init;                   // a models folder with OUT/pretrain (MLM encoder + tokenizer)
  std::size_t dev_queries = 300;      // dev queries of the dev check (BM25 top candidate_depth re-ranked, nDCG@10)
  std::size_t stored_depth = 64;      // train candidates per query whose scores are stored for distillation (0: none)
  // The serving BM25 weight written to OUT/rank/fusion.json, when the caller
  // chose it on other dev lists (`funnel eval --cv` pools inner folds);
  // unset: fitted on this run's dev lists (0 without them). fusion_source
  // says where a given weight came from (fusion.json "fitted").
  std::optional<double> fusion_weight;
  std::string fusion_source;
};

struct RankEpochLog {
  int epoch = 0;
  double loss = 0;
  double dev_ndcg = 0;  // nDCG@10 of BM25's top candidate_depth re-ranked by the ranker alone (NaN without dev qrels)
  // The same ordered by ranker + w x BM25 / the list's best BM25, with w
  // fitted on the dev lists (0: the ranker alone; 1000: BM25's order).
  double fused_ndcg = 0, fusion_weight = 0;
  // Dev nDCG@10 at each weight of rank_fusion_grid(), in its order (empty
  // without dev qrels): what a caller needs to pool dev lists of several
  // runs, as `funnel eval --cv` does over its inner folds.
  std::vector<double> grid_ndcg;
  double seconds = 0;
};

// The weights w that the dev check tries for ranker + w x BM25 / the list's
// best BM25, ascending: 0 is the ranker alone, 1000 BM25's order (the
// ranker breaking ties).
const std::vector<double>& rank_fusion_grid();

struct RankTrainResult {
  std::size_t dev_lists = 0;      // dev queries of the dev check (0: no dev qrels)
  double bm25_dev_ndcg = 0;       // BM25's own order of the same dev lists
  double untrained_dev_ndcg = 0;
  double best_dev_ndcg = 0;       // fused, at the best epoch (the stage's serving score)
  double best_ranker_ndcg = 0;    // the ranker alone at that epoch
  double fusion_weight = 0;       // saved in OUT/rank/fusion.json
  int best_epoch = 0;
  std::vector<RankEpochLog> epochs;
  std::vector<std::string> tasks;
  std::filesystem::path model_dir;
  std::string model_id;            // of the saved model (RankerModel::model_id)
  std::size_t stored_queries = 0;  // queries in OUT/rank/train_scores.jsonl
};

// Trains on the data folder `data` (BEIR layout with qrels/train.tsv;
// impressions.jsonl and human_labels.tsv if present) and writes
// OUT/rank/{config.json, tokenizer.model, model.pt, features.bin,
// fusion.json, train_log.jsonl, train_scores.jsonl, data.json}. The epoch
// kept is the one with the best fused dev nDCG@10. Throws funnel::Error.
RankTrainResult train_rank(const std::filesystem::path& data, const std::filesystem::path& out,
                           const RankTrainOptions& options, const LogFn& log);

// ---------------------------------------------------------------------------
// Masked-language-model pre-training (`funnel fit --stage pretrain`)
//
// Each step takes `batch` docs (title, tags and body as one text), hides
// `mask_rate` of their tokens (BERT's 80/10/10: the <unk> id serves as
// [MASK], a random token, or the token kept) and trains the encoder plus a
// linear output layer to predict them.

struct PretrainOptions {
  std::string preset = "tiny";  // must match the models it initialises
  int max_len = 64;             // tokens per doc text
  double mask_rate = 0.15;
  int epochs = 1;
  int steps_per_epoch = 1000;   // 0: one pass over the corpus
  int batch = 64;
  double lr = 1e-3;
  std::uint64_t seed = 1;
  int threads = 1;
};

struct PretrainResult {
  std::vector<double> epoch_loss;       // mean masked-token cross-entropy
  double masked_accuracy = 0;           // on held-out docs after training
  double untrained_masked_accuracy = 0; // the same before any step
  double baseline_masked_accuracy = 0;  // the same masks answered by the training text's most frequent token
  std::filesystem::path model_dir;
};

// Writes OUT/pretrain/{config.json, tokenizer.model, encoder.pt,
// train_log.jsonl}. Throws funnel::Error on bad options or data.
PretrainResult pretrain_encoder(const std::filesystem::path& data, const std::filesystem::path& out,
                                const PretrainOptions& options, const LogFn& log);

// ---------------------------------------------------------------------------
// The learned fusion stage (`funnel fit --stage fusion`, docs/fusion.md)
//
// Runs the cascade's rank stage over the logged requests of a split that
// the ranker did not train on (dev by default) to get each shown item's
// score and pXtr, then fits:
//  - gbdt: XGBoost trees, label = click, sample weight of a click = 1 +
//    sum_o objective_weights[o] * outcome_o over the engagement objectives
//    (watch fraction, like, share, follow): trees whose odds rank by
//    expected weighted engagement (weighted logistic regression);
//  - ltr: a linear combination trained pairwise within each request, one
//    pairwise logistic loss per objective weighted by objective_weights.
// Inputs: the rank stage's score and pXtr, one flag per doc category, the
// query length (fusion_inputs.h). 20% of the requests (by id hash) are held
// out for early stopping and the reported click GAUC.

struct FusionTrainOptions {
  std::string method = "gbdt";  // gbdt | ltr
  std::string split = "dev";    // logged requests of this split's queries
  std::map<std::string, double> objective_weights = {
      {"click", 1.0}, {"watch", 1.0}, {"like", 1.0}, {"share", 1.0}, {"follow", 1.0}};
  int rounds = 300, max_depth = 4;  // gbdt
  double eta = 0.1;                 // gbdt
  std::size_t max_requests = 0;     // 0: every logged request of the split
  std::uint64_t seed = 1;
};

struct FusionTrainResult {
  std::filesystem::path file;  // the model written
  std::size_t requests = 0, rows = 0;
  std::vector<std::pair<std::string, double>> importance;  // gbdt: total gain; ltr: |weight x spread|
  double valid_gauc = 0, valid_gauc_rank = 0;  // held-out click GAUC: learned fusion vs the rank score
};

// `index_dir` and `cascade_file` give the cascade (its last rank stage
// feeds the fusion); `data_dir` the logs; the model goes to
// MODELS/fusion/ (models = "" : the index's models folder).
FusionTrainResult train_fusion(const std::filesystem::path& index_dir, const std::filesystem::path& cascade_file,
                               const std::filesystem::path& data_dir, const std::filesystem::path& models,
                               const FusionTrainOptions& options, const LogFn& log = {});

}  // namespace funnel::train
