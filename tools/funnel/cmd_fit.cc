#include <cmath>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "funnel/error.h"
#include "train/prerank_trainer.h"

namespace funnel::cli {

void add_fit(CLI::App& app) {
  auto* cmd = app.add_subcommand("fit", "Train a model of the cascade (pre-rank two-tower student)");
  struct Args {
    std::string data, out, stage = "prerank";
    train::PrerankTrainOptions o;
    bool no_image = false, no_author = false, separate = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--data", a->data, "Data folder (BEIR layout; impressions.jsonl and human_labels.tsv if present)")
      ->required();
  cmd->add_option("--out", a->out, "Models folder; the stage writes OUT/<stage>/")->required();
  cmd->add_option("--stage", a->stage, "Stage to train")->capture_default_str()->check(CLI::IsMember({"prerank"}));
  cmd->add_option("--preset", a->o.preset, "Encoder shape: tiny, small or base")
      ->capture_default_str()->check(CLI::IsMember({"tiny", "small", "base"}));
  cmd->add_option("--matcher", a->o.matcher, "dot, soft_attention or esim")
      ->capture_default_str()->check(CLI::IsMember({"dot", "soft_attention", "esim"}));
  cmd->add_option("--nq", a->o.nq, "Query heads")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--nd", a->o.nd, "Doc heads")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--head-dim", a->o.head_dim, "Head vector size")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--beta", a->o.beta, "soft_attention temperature")->capture_default_str();
  cmd->add_flag("--cosine,!--no-cosine", a->o.cosine, "L2-normalise head vectors (default on)");
  cmd->add_flag("--separate-encoders", a->separate, "Do not share encoder weights between the towers");
  cmd->add_flag("--no-image", a->no_image, "Leave out the image_vec channel");
  cmd->add_flag("--split-fields,!--no-split-fields", a->o.split_fields,
               "Title + tags and body as two channels of the doc tower (default on)");
  cmd->add_option("--hidden", a->o.hidden, "Encoder width instead of the preset's (feed-forward: 4x; a multiple of its heads)")
      ->check(CLI::Range(8, 4096));
  cmd->add_option("--layers", a->o.layers, "Encoder layers instead of the preset's")->check(CLI::Range(1, 48));
  cmd->add_option("--bow-buckets", a->o.bow_buckets,
                  "Hash buckets of the word + word-pair bag shared by both towers (0: off)")
      ->capture_default_str()->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--pooling", a->o.pooling, "Encoder pooling: mean, or mean_max (mean + max over tokens)")
      ->capture_default_str()->check(CLI::IsMember({"mean", "mean_max"}));
  cmd->add_option("--hard-negative-depth", a->o.hard_negative_depth,
                  "BM25 results per training query that hard negatives are drawn from (0: random negatives)")
      ->capture_default_str();
  cmd->add_flag("--no-author", a->no_author, "Leave out the author and category channels");
  cmd->add_option("--epochs", a->o.epochs, "Epochs")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--steps", a->o.steps_per_epoch, "Steps per epoch (0: one pass over the positive pairs)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", a->o.batch, "Pairs per step")->capture_default_str()->check(CLI::Range(2, 65536));
  cmd->add_option("--lr", a->o.lr, "Learning rate (AdamW)")->capture_default_str();
  cmd->add_option("--temperature", a->o.temperature, "InfoNCE temperature")->capture_default_str();
  cmd->add_option("--seed", a->o.seed, "Random seed (training is deterministic for a seed)")->capture_default_str();
  cmd->add_option("--threads", a->o.threads, "CPU threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--device", a->o.device, "cpu, or cuda where libtorch sees one")->capture_default_str();
  cmd->add_flag("--click-positives,!--no-click-positives", a->o.clicks_as_positives,
               "Clicked docs join the contrastive positives (default off: with train qrels, clicks only train the pairwise loss)");
  cmd->add_option("--cascade-queries", a->o.cascade_queries,
                  "Dev queries of the cascade check (BM25 top 1000 re-scored, Recall@100); 0 turns it off")
      ->capture_default_str();
  cmd->add_option("--teacher", a->o.teacher, "Models folder of a bigger two-tower teacher to distil from");
  cmd->add_option("--distill-margin", a->o.distill_margin, "With --teacher: MarginMSE weight")->capture_default_str();
  cmd->add_option("--distill-inbatch", a->o.distill_inbatch, "With --teacher: in-batch KL weight")->capture_default_str();
  cmd->add_option("--distill-temperature", a->o.distill_temperature, "With --teacher: in-batch KL temperature")
      ->capture_default_str();
  cmd->add_option("--child-tuning", a->o.child_tuning, "Child-tuning of the gradients: F (random mask) or D (Fisher)")
      ->check(CLI::IsMember({"F", "D"}));
  cmd->add_option("--child-rate", a->o.child_rate, "Child-tuning rate p")->capture_default_str();
  cmd->add_flag("--resume", a->o.resume, "Continue from OUT/<stage>/checkpoint.pt");
  cmd->callback([=] {
    train::PrerankTrainOptions o = a->o;
    o.use_image = !a->no_image;
    o.use_author = !a->no_author;
    o.shared_encoder = !a->separate;
    auto res = train::train_prerank(a->data, a->out, o, [](const std::string& line) {
      std::fprintf(stderr, "%s\n", line.c_str());
    });
    std::printf("trained %s: best dev %s %.4f at epoch %d (untrained %.4f); model in %s\n", o.matcher.c_str(),
                res.dev_metric.c_str(), res.best_dev_auc, res.best_epoch, res.untrained_dev_auc,
                res.model_dir.c_str());
    for (const auto& e : res.epochs) {
      if (std::isnan(res.bm25_recall) || e.epoch != res.best_epoch) continue;
      std::printf("  best epoch: student alone %.4f, with BM25 weight %.2f %.4f, BM25 alone %.4f\n", e.cascade_recall,
                  e.fusion_weight, e.fused_recall, res.bm25_recall);
    }
  });
}

}  // namespace funnel::cli
