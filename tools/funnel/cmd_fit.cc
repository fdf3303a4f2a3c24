#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "funnel/error.h"
#include "funnel/train.h"
#include "train/rank/lambdamart_train.h"

namespace funnel::cli {

namespace {
// "relevance=1,click=0.5" -> {relevance: 1, click: 0.5}; the trainer
// checks the task names.
std::map<std::string, double> parse_task_weights(const std::string& text, const std::string& option = "--task-weights") {
  std::map<std::string, double> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error("fit: " + option + ": '" + item + "' is not name=weight");
    char* rest = nullptr;
    const std::string num = item.substr(eq + 1);
    const double w = std::strtod(num.c_str(), &rest);
    if (num.empty() || *rest != '\0') throw Error("fit: " + option + ": '" + num + "' is not a number");
    out[item.substr(0, eq)] = w;
    start = end + 1;
  }
  return out;
}

struct FitArgs {
  std::string data, out, stage = "prerank";
  train::PrerankTrainOptions o;
  bool no_image = false, no_author = false, separate = false;
  // --stage rank and pretrain
  int max_len = 64;
  bool no_text = false, no_features = false;
  std::string task_weights, init;
  double mask_rate = 0.15;
  std::size_t candidate_depth = 100;
  int list_size = 16, lists = 8;
  std::string ranker = "neural";
  // --stage fusion
  std::string index, config, method = "gbdt", split = "dev", objective_weights;
  std::size_t max_requests = 0;
};

// Options of every stage, and of rank and pretrain.
void add_stage_options(CLI::App* cmd, FitArgs& a) {
  cmd->add_option("--data", a.data, "Data folder (BEIR layout; impressions.jsonl and human_labels.tsv if present)")
      ->required();
  cmd->add_option("--out", a.out, "Models folder; the stage writes OUT/<stage>/")->required();
  cmd->add_option("--stage", a.stage,
                  "What to train: prerank (two-tower student), rank (cross ranker), pretrain (masked-language-model "
                  "pre-training of the encoder on the corpus text) or fusion (the learned fusion stage: needs --index "
                  "and --config)")
      ->capture_default_str()->check(CLI::IsMember({"prerank", "rank", "pretrain", "fusion"}));
  cmd->add_option("--init", a.init, "Models folder with a pre-trained encoder (OUT/pretrain) to start from (prerank, rank)");
  cmd->add_option("--mask-rate", a.mask_rate, "pretrain: share of tokens hidden")->capture_default_str();
  cmd->add_option("--max-len", a.max_len, "rank, pretrain: tokens per text (rank: query + doc)")
      ->capture_default_str()->check(CLI::Range(8, 512));
  cmd->add_flag("--no-text", a.no_text, "rank: leave out the encoder tower (features-only DNN)");
  cmd->add_flag("--no-features", a.no_features, "rank: leave out the cross features (text only)");
  cmd->add_option("--task-weights", a.task_weights,
                  "rank: loss weight per task, e.g. relevance=1,click=0.5 (tasks: relevance click watch finish like share follow)");
  cmd->add_option("--ranker", a.ranker,
                  "rank: neural (the cross ranker, libtorch) or lambdamart (XGBoost rank:ndcg over lexical features: "
                  "for a few dozen judged queries and no logs; docs/relevance.md)")
      ->capture_default_str()->check(CLI::IsMember({"neural", "lambdamart"}));
  cmd->add_option("--candidate-depth", a.candidate_depth, "rank: BM25 results per training query")->capture_default_str();
  cmd->add_option("--list-size", a.list_size, "rank: candidates per query in the listwise loss")
      ->capture_default_str()->check(CLI::Range(2, 1024));
  cmd->add_option("--lists", a.lists, "rank: queries per step")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--index", a.index, "fusion: the index the cascade runs on");
  cmd->add_option("--config", a.config, "fusion: the cascade; its last rank stage gives the fusion's inputs");
  cmd->add_option("--method", a.method, "fusion: gbdt (XGBoost) or ltr (pairwise linear)")
      ->capture_default_str()->check(CLI::IsMember({"gbdt", "ltr"}));
  cmd->add_option("--split", a.split, "fusion: train on the logged requests of this split's queries")->capture_default_str();
  cmd->add_option("--objective-weights", a.objective_weights,
                  "fusion: weight per objective, e.g. click=1,watch=2,like=1 (default: 1 each for click watch like share follow)");
  cmd->add_option("--max-requests", a.max_requests, "fusion: at most this many logged requests (0: all)")->capture_default_str();
}

// The student's shape and inputs (prerank).
void add_student_options(CLI::App* cmd, FitArgs& a) {
  cmd->add_option("--preset", a.o.preset, "Encoder shape: tiny, small or base")
      ->capture_default_str()->check(CLI::IsMember({"tiny", "small", "base"}));
  cmd->add_option("--matcher", a.o.matcher, "dot, soft_attention or esim")
      ->capture_default_str()->check(CLI::IsMember({"dot", "soft_attention", "esim"}));
  cmd->add_option("--nq", a.o.nq, "Query heads")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--nd", a.o.nd, "Doc heads")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--head-dim", a.o.head_dim, "Head vector size")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--beta", a.o.beta, "soft_attention temperature")->capture_default_str();
  cmd->add_flag("--cosine,!--no-cosine", a.o.cosine, "L2-normalise head vectors (default on)");
  cmd->add_flag("--separate-encoders", a.separate, "Do not share encoder weights between the towers");
  cmd->add_flag("--no-image", a.no_image, "Leave out the image_vec channel");
  cmd->add_flag("--split-fields,!--no-split-fields", a.o.split_fields,
               "Title + tags and body as two channels of the doc tower (default on)");
  cmd->add_option("--hidden", a.o.hidden, "Encoder width instead of the preset's (feed-forward: 4x; a multiple of its heads)")
      ->check(CLI::Range(8, 4096));
  cmd->add_option("--layers", a.o.layers, "Encoder layers instead of the preset's")->check(CLI::Range(1, 48));
  cmd->add_option("--bow-buckets", a.o.bow_buckets,
                  "Hash buckets of the word + word-pair bag shared by both towers (0: off)")
      ->capture_default_str()->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--pooling", a.o.pooling, "Encoder pooling: mean, or mean_max (mean + max over tokens)")
      ->capture_default_str()->check(CLI::IsMember({"mean", "mean_max"}));
  cmd->add_option("--hard-negative-depth", a.o.hard_negative_depth,
                  "BM25 results per training query that hard negatives are drawn from (0: random negatives)")
      ->capture_default_str();
  cmd->add_flag("--no-author", a.no_author, "Leave out the author and category channels");
}

// Training and distillation.
void add_training_options(CLI::App* cmd, FitArgs& a) {
  cmd->add_option("--epochs", a.o.epochs, "Epochs")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--steps", a.o.steps_per_epoch, "Steps per epoch (0: one pass over the positive pairs)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", a.o.batch, "Pairs per step")->capture_default_str()->check(CLI::Range(2, 65536));
  cmd->add_option("--lr", a.o.lr, "Learning rate (AdamW)")->capture_default_str();
  cmd->add_option("--temperature", a.o.temperature, "InfoNCE temperature")->capture_default_str();
  cmd->add_option("--seed", a.o.seed, "Random seed (training is deterministic for a seed)")->capture_default_str();
  cmd->add_option("--threads", a.o.threads, "CPU threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--device", a.o.device, "cpu, or cuda where libtorch sees one")->capture_default_str();
  cmd->add_flag("--click-positives,!--no-click-positives", a.o.clicks_as_positives,
               "Clicked docs join the contrastive positives (default off: with train qrels, clicks only train the pairwise loss)");
  cmd->add_option("--cascade-queries", a.o.cascade_queries,
                  "Dev queries of the cascade check (BM25 top 1000 re-scored, Recall@100); 0 turns it off")
      ->capture_default_str();
  cmd->add_option("--teacher", a.o.teacher, "Models folder of a bigger two-tower teacher to distil from");
  cmd->add_option("--distill-margin", a.o.distill_margin, "With --teacher: MarginMSE weight")->capture_default_str();
  cmd->add_option("--distill-inbatch", a.o.distill_inbatch, "With --teacher: in-batch KL weight")->capture_default_str();
  cmd->add_option("--distill-temperature", a.o.distill_temperature, "With --teacher: in-batch KL temperature")
      ->capture_default_str();
  cmd->add_option("--ranker-scores", a.o.ranker_scores,
                  "prerank: distil the cross ranker whose scores MODELS/rank/train_scores.jsonl holds (written by --stage rank)");
  cmd->add_option("--distill-ranker", a.o.distill_ranker, "With --ranker-scores: the distillation weight at full rise")
      ->capture_default_str();
  cmd->add_option("--ranker-temperature", a.o.ranker_temperature, "With --ranker-scores: softmax temperature")
      ->capture_default_str();
  cmd->add_option("--ranker-rise", a.o.ranker_rise, "With --ranker-scores: share of training over which the weight rises")
      ->capture_default_str();
  cmd->add_option("--ranker-final", a.o.ranker_final,
                  "With --ranker-scores: final share of training with the student's own losses off")
      ->capture_default_str();
  cmd->add_option("--child-tuning", a.o.child_tuning, "Child-tuning of the gradients: F (random mask) or D (Fisher)")
      ->check(CLI::IsMember({"F", "D"}));
  cmd->add_option("--child-rate", a.o.child_rate, "Child-tuning rate p")->capture_default_str();
  cmd->add_flag("--resume", a.o.resume, "Continue from OUT/<stage>/checkpoint.pt");
}

void fit_pretrain(const FitArgs& a, const train::LogFn& log) {
  train::PretrainOptions p;
  p.preset = a.o.preset;
  p.max_len = a.max_len;
  p.mask_rate = a.mask_rate;
  p.epochs = a.o.epochs;
  p.steps_per_epoch = a.o.steps_per_epoch;
  p.batch = a.o.batch;
  p.lr = a.o.lr;
  p.seed = a.o.seed;
  p.threads = a.o.threads;
  auto res = train::pretrain_encoder(a.data, a.out, p, log);
  std::printf("pre-trained a %s encoder at mask rate %.2f: held-out masked-token accuracy %.4f (untrained %.4f, the most "
              "frequent token %.4f); in %s\n",
              p.preset.c_str(), p.mask_rate, res.masked_accuracy, res.untrained_masked_accuracy,
              res.baseline_masked_accuracy, res.model_dir.c_str());
}

void fit_fusion(const FitArgs& a, const train::LogFn& log) {
  if (a.index.empty() || a.config.empty()) throw Error("fit --stage fusion: --index and --config are required");
  train::FusionTrainOptions f;
  f.method = a.method;
  f.split = a.split;
  f.max_requests = a.max_requests;
  f.seed = a.o.seed;
  if (!a.objective_weights.empty()) f.objective_weights = parse_task_weights(a.objective_weights, "--objective-weights");
  const auto r = train::train_fusion(a.index, a.config, a.data, a.out, f, log);
  std::printf("trained the %s fusion on %zu logged requests (%zu shown items): held-out click GAUC %.4f (rank score alone %.4f)\n",
              a.method.c_str(), r.requests, r.rows, r.valid_gauc, r.valid_gauc_rank);
  std::printf("importance (%s):", a.method == "gbdt" ? "total gain" : "|weight| x spread");
  for (std::size_t i = 0; i < r.importance.size() && i < 8; ++i)
    std::printf(" %s %.3g", r.importance[i].first.c_str(), r.importance[i].second);
  std::printf("\nwrote %s\n", r.file.string().c_str());
}

void fit_lambdamart(const FitArgs& a, const train::LogFn& log) {
  train::LambdaMartTrainOptions o;
  o.depth = a.candidate_depth;
  o.params.seed = a.o.seed;
  o.params.threads = std::max(1, a.o.threads);
  const auto r = train::train_lambdamart(a.data, a.out, o, log);
  std::printf("trained LambdaMART on %zu queries (%zu candidate rows)", r.train_queries, r.rows);
  if (r.dev_queries > 0)
    std::printf(": dev nDCG@10 %.4f at BM25 weight %g (ranker alone %.4f, BM25 order %.4f, %zu dev queries)", r.dev_ndcg,
                r.fusion_weight, r.dev_ranker_ndcg, r.dev_bm25_ndcg, r.dev_queries);
  std::printf("\nfeature importance (total gain):\n");
  for (const auto& [name, v] : r.importance) std::printf("  %-22s %.4g\n", name.c_str(), v);
  std::printf("wrote %s\n", r.model_dir.c_str());
}

void fit_rank(const FitArgs& a, const train::LogFn& log) {
  if (a.ranker == "lambdamart") return fit_lambdamart(a, log);
  train::RankTrainOptions r;
  r.preset = a.o.preset;
  r.max_len = a.max_len;
  r.use_text = !a.no_text;
  r.use_features = !a.no_features;
  r.task_weights = parse_task_weights(a.task_weights);
  r.epochs = a.o.epochs;
  r.steps_per_epoch = a.o.steps_per_epoch;
  r.queries_per_step = a.lists;
  r.list_size = a.list_size;
  r.candidate_depth = a.candidate_depth;
  r.lr = a.o.lr;
  r.seed = a.o.seed;
  r.threads = a.o.threads;
  r.init = a.init;
  auto res = train::train_rank(a.data, a.out, r, log);
  std::string tasks;
  for (const auto& t : res.tasks) tasks += (tasks.empty() ? "" : ", ") + t;
  std::printf("trained the ranker (%s): best dev nDCG@10 %.4f at epoch %d (ranker alone %.4f, BM25 weight %g; "
              "untrained %.4f, BM25 order %.4f); model %s in %s\n",
              tasks.c_str(), res.best_dev_ndcg, res.best_epoch, res.best_ranker_ndcg, res.fusion_weight,
              res.untrained_dev_ndcg, res.bm25_dev_ndcg, res.model_id.c_str(), res.model_dir.c_str());
}

void fit_prerank(const FitArgs& a, const train::LogFn& log) {
  train::PrerankTrainOptions o = a.o;
  o.init = a.init;
  o.use_image = !a.no_image;
  o.use_author = !a.no_author;
  o.shared_encoder = !a.separate;
  auto res = train::train_prerank(a.data, a.out, o, log);
  std::printf("trained %s: best dev %s %.4f at epoch %d (untrained %.4f); model in %s\n", o.matcher.c_str(),
              res.dev_metric.c_str(), res.best_dev_auc, res.best_epoch, res.untrained_dev_auc,
              res.model_dir.c_str());
  for (const auto& e : res.epochs) {
    if (std::isnan(res.bm25_recall) || e.epoch != res.best_epoch) continue;
    std::printf("  best epoch: student alone %.4f, with BM25 weight %.2f %.4f, BM25 alone %.4f\n", e.cascade_recall,
                e.fusion_weight, e.fused_recall, res.bm25_recall);
  }
}

}  // namespace

void add_fit(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "fit", "Train a model of the cascade: the pre-rank two-tower student, the cross ranker, or a pre-trained encoder");
  auto a = std::make_shared<FitArgs>();
  add_stage_options(cmd, *a);
  add_student_options(cmd, *a);
  add_training_options(cmd, *a);
  cmd->callback([a] {
    auto log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    if (a->stage == "pretrain") fit_pretrain(*a, log);
    else if (a->stage == "rank") fit_rank(*a, log);
    else if (a->stage == "fusion") fit_fusion(*a, log);
    else fit_prerank(*a, log);
  });
}

}  // namespace funnel::cli
