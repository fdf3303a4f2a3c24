// `funnel experiment`: cross-validation on labels-only collections and the
// ablations of the pre-rank student (src/experiments/).
#include <memory>

#include "commands.h"
#include "experiments/ablation.h"
#include "experiments/bench.h"
#include "experiments/cv.h"
#include "experiments/fusion_report.h"
#include "experiments/relevance.h"
#include "experiments/tokenizer_check.h"

namespace funnel::cli {

namespace {

void add_cv(CLI::App& parent) {
  auto* cmd = parent.add_subcommand(
      "cv", "Cross-validate the trained cascade on a labels-only collection: split the judged queries into K folds, "
            "train ranker and pre-ranker on K-1 (with pseudo-queries from the docs for the pre-ranker), evaluate the "
            "cascade on the held-out fold next to BM25 alone; writes --out/cv.{md,json}");
  auto o = std::make_shared<experiments::CvOptions>(experiments::default_cv_options());
  cmd->add_option("--data", o->data, "Data folder (BEIR layout) with queries.jsonl and qrels/")->required();
  cmd->add_option("--out", o->out, "Output folder (one subfolder per fold)")->required();
  cmd->add_option("--folds", o->folds, "Folds K")->capture_default_str()->check(CLI::Range(2, 100));
  cmd->add_option("--seed", o->seed, "Seed of the fold split and the training")->capture_default_str();
  cmd->add_option("--max-queries", o->max_queries,
                  "At most this many judged queries, evenly spaced by id, the same for every seed (0: all)")
      ->capture_default_str();
  cmd->add_option("--rank-steps", o->rank.steps_per_epoch, "Ranker steps per epoch")->capture_default_str();
  cmd->add_option("--prerank-steps", o->prerank.steps_per_epoch, "Pre-ranker steps per epoch")->capture_default_str();
  cmd->add_flag("--no-pseudo-queries", [o](std::int64_t) { o->pseudo_queries = false; },
                "Train the pre-ranker on the judged queries only");
  cmd->add_flag("--text,!--no-text", o->rank.use_text,
                "Give the ranker its text tower too (default: cross features only, the fewer weights that a few dozen "
                "judged queries can fit)");
  cmd->add_option("--rank-epochs", o->rank.epochs, "Ranker epochs (the inner folds choose among 1..N)")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--inner", o->inner_folds,
                  "Inner folds of the training queries that choose the ranker's epoch and BM25 weight on all of them "
                  "(0: on one dev split of a fifth)")
      ->capture_default_str()->check(CLI::Range(0, 100));
  cmd->add_flag("--force", o->force, "Replace the --out of an earlier cross-validation");
  cmd->add_flag("--json", o->json, "Print the result as one JSON object");
  cmd->add_flag("--verbose", o->verbose, "Print the trainers' progress");
  cmd->callback([o] { experiments::run_cv(*o); });
}

void add_relevance(CLI::App& parent) {
  auto* cmd = parent.add_subcommand(
      "relevance", "What lexical relevance work is worth on a labels-only collection, under K-fold cross-validation by "
                   "query over several split seeds: BM25, BM25 tuned, BM25 + RM3 (default and tuned), a LambdaMART "
                   "ranker over lexical features, and the cascade selected on the training folds; writes "
                   "--out/relevance.{md,json}");
  auto o = std::make_shared<experiments::RelevanceOptions>(experiments::default_relevance_options());
  cmd->add_option("--data", o->data, "Data folder (BEIR layout) with queries.jsonl and qrels/")->required();
  cmd->add_option("--out", o->out, "Output folder")->required();
  cmd->add_option("--folds", o->folds, "Folds K")->capture_default_str()->check(CLI::Range(2, 100));
  cmd->add_option("--inner", o->inner_folds, "Inner folds that choose LambdaMART's BM25 fusion weight")
      ->capture_default_str()->check(CLI::Range(2, 100));
  cmd->add_option("--seeds", o->seeds, "Split seeds, one cross-validation each")->capture_default_str()->delimiter(',');
  cmd->add_option("--depth", o->depth, "Candidates per query from BM25 and from BM25 + RM3 (merged) for the ranker")
      ->capture_default_str()->check(CLI::Range(10, 10000));
  cmd->add_option("--max-queries", o->max_queries,
                  "At most this many judged queries, evenly spaced by id, the same for every seed (0: all)")
      ->capture_default_str();
  cmd->add_option("--rounds", o->lambdamart.rounds, "LambdaMART boosting rounds")->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--threads", o->lambdamart.threads, "LambdaMART training threads")->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_flag("--force", o->force, "Replace the --out of an earlier run");
  cmd->add_flag("--json", o->json, "Print the result as one JSON object");
  cmd->callback([o] { experiments::run_relevance(*o); });
}

// The options both ablations take.
void add_common(CLI::App* cmd, experiments::AblationOptions& a) {
  cmd->add_option("--data", a.data, "Data folder (a world from `funnel gen`)")->required();
  cmd->add_option("--out", a.out, "Output folder: ablation.{md,json,svg} and runs/")->required();
  cmd->add_option("--seeds", a.seeds, "Seeds")->capture_default_str()->delimiter(',');
  cmd->add_option("--preset", a.train.preset, "Students' encoder preset")
      ->capture_default_str()->check(CLI::IsMember({"tiny", "small", "base"}));
  cmd->add_option("--epochs", a.train.epochs, "Students' training epochs")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--steps", a.train.steps_per_epoch, "Students' training steps per epoch")
      ->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--depth", a.depth, "BM25 candidates re-scored by pre-rank")->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--keep", a.keep, "Docs pre-rank keeps (at most --depth)")->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_flag("--force", a.force, "Reuse a non-empty --out (finished runs are kept)");
}

void add_ablation_prerank(CLI::App& parent) {
  auto* cmd = parent.add_subcommand(
      "prerank", "dot vs soft_attention vs esim, with and without the image channel, over --seeds");
  auto a = std::make_shared<experiments::AblationOptions>(experiments::default_ablation_options());
  add_common(cmd, *a);
  cmd->add_option("--matchers", a->matchers, "Matchers")->capture_default_str()->delimiter(',')
      ->check(CLI::IsMember({"dot", "soft_attention", "esim"}));
  cmd->add_option("--head-dim", a->train.head_dim, "Students' head size")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->callback([a] {
    if (a->keep > a->depth) throw CLI::ValidationError("--keep", "at most --depth");
    experiments::run_prerank_ablation(*a);
  });
}

void add_ablation_distill(CLI::App& parent) {
  auto* cmd = parent.add_subcommand(
      "distill", "The ways of teaching the pre-rank student: teacher, in-batch, ranker distillation, child-tuning, MLM "
                 "init");
  auto a = std::make_shared<experiments::AblationOptions>(experiments::default_ablation_options());
  // The student the pre-rank ablation found best: dot, no image.
  a->train.matcher = "dot";
  a->train.use_image = false;
  a->train.cascade_queries = 100;
  add_common(cmd, *a);
  cmd->add_option("--eval-queries", a->eval_queries, "Test queries evaluated, evenly spaced (0: all)")->capture_default_str();
  cmd->add_option("--rows", a->rows,
                  "Only these rows (alone, margin, inbatch, ranker, child, mlm15, mlm30, mlm45, rankeronly), e.g. to "
                  "split the work between processes writing one --out; a last run without it gathers them all")
      ->delimiter(',');
  cmd->add_option("--rank-steps", a->rank_steps, "The ranker's training steps")->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  cmd->add_option("--teacher-epochs", a->teacher_epochs,
                  "Epochs (of --steps) the two-tower teacher trains; more than the students' so it has something to teach")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--margin-weight", a->margin_weight, "MarginMSE weight of the rows that use it")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--inbatch-weight", a->inbatch_weight, "In-batch KL weight of the rows that use it")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--pretrain-steps", a->pretrain_steps, "MLM pre-training steps")->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  cmd->callback([a] {
    if (a->keep > a->depth) throw CLI::ValidationError("--keep", "at most --depth");
    experiments::run_distill_ablation(*a);
  });
}

void add_tokenizer(CLI::App& parent) {
  auto* cmd = parent.add_subcommand(
      "tokenizer", "How well the models' tokenizer covers a collection: the <unk> share of doc and query pieces at "
                   "several vocabulary sizes (choose a preset for text with many distinct characters)");
  auto o = std::make_shared<experiments::TokenizerCheckOptions>();
  auto sizes = std::make_shared<std::string>("1000,4000,8000");
  cmd->add_option("--data", o->data, "Data folder (BEIR layout)")->required();
  cmd->add_option("--out", o->out, "Folder for the trained tokenizers")->required();
  cmd->add_option("--vocab-sizes", *sizes, "Vocabulary sizes, comma-separated")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print the result as one JSON array");
  cmd->callback([o, sizes] {
    o->vocab_sizes = experiments::parse_sizes(*sizes, "--vocab-sizes");
    experiments::run_tokenizer_check(*o);
  });
}

}  // namespace

void add_fusion_report(CLI::App& parent) {
  auto* cmd = parent.add_subcommand(
      "fusion", "Every fusion method (hand and tuned) and re-rank setting on the same cascade output and simulated traffic: "
                "one table and a theta plot");
  auto o = std::make_shared<experiments::FusionReportOptions>();
  cmd->add_option("--index", o->index, "Index with embeddings and models (funnel index --models)")->required();
  cmd->add_option("--data", o->data, "The generated world (funnel gen)")->required();
  cmd->add_option("--config", o->config, "Cascade up to the rank stage (e.g. configs/demo-full.json)")->required();
  cmd->add_option("--out", o->out, "Output folder: fusion.md, fusion.json, theta.svg")->required();
  cmd->add_option("--split", o->split, "Queries of the evaluation and of the traffic")->capture_default_str();
  cmd->add_option("--k", o->k, "Page size: nDCG@k, diversity@k, items shown")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--sim-requests", o->sim_requests, "Simulated requests per traffic sample")->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--sim-seeds", o->sim_seeds, "Traffic samples")->capture_default_str()->check(CLI::Range(1, 100));
  cmd->add_option("--thetas", o->thetas, "DPP thetas of the sweep (comma-separated)")->capture_default_str()->delimiter(',');
  cmd->add_option("--dpp-theta", o->dpp_theta, "DPP theta of the table's rows")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->callback([o] {
    const std::string md = experiments::fusion_report(*o, [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); });
    std::printf("%s", md.c_str());
  });
}

void add_experiment(CLI::App& app) {
  auto* cmd = app.add_subcommand("experiment", "Experiments that train and compare many models: cross-validation, ablations, tokenizer coverage");
  cmd->require_subcommand(1);
  add_cv(*cmd);
  add_relevance(*cmd);
  add_tokenizer(*cmd);
  add_fusion_report(*cmd);
  auto* ablation = cmd->add_subcommand("ablation", "Train variants of the pre-rank student over seeds and compare them");
  ablation->require_subcommand(1);
  add_ablation_prerank(*ablation);
  add_ablation_distill(*ablation);
}

}  // namespace funnel::cli
