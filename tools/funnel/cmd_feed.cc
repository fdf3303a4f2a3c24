// `funnel feed`: recommendation feeds. import (pair files into a feed data
// folder), train (the user tower and the feed ranker into a feed model
// folder), eval (the feed cascade on the test part, with baselines).
#include <cstdio>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cascade.h"
#include "commands.h"
#include "feed/feed_eval.h"
#include "feed/feed_features.h"
#include "feed/feed_model.h"
#include "feed/feed_rank_train.h"
#include "feed/feed_stages.h"
#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/interactions.h"
#include "funnel/pipeline.h"
#include "progress.h"
#include "train/feed/feed_tower.h"
#include "util/fs.h"

namespace funnel::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void log_line(const std::string& s) {
  std::fprintf(stderr, "%s\n", s.c_str());
  std::fflush(stderr);
}

json read_json_arg(const std::string& arg, const std::string& what) {
  if (arg.empty()) return json::object();
  std::string text = arg;
  if (!arg.empty() && arg[0] != '{') {
    std::ifstream in(arg);
    if (!in) throw Error(what + ": cannot open " + arg);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) throw Error(what + ": not valid JSON");
  return j;
}

void write_manifest(const fs::path& file, const json& m) {
  detail::AtomicFile f(file);
  f.stream() << m.dump(2) << "\n";
  f.commit();
}

void add_import(CLI::App& feed) {
  auto* cmd = feed.add_subcommand("import", "Import 'user item' pair files (e.g. the Taobao logs) into a feed data folder");
  struct Args {
    std::vector<std::string> pairs;
    std::string dev, test, out, held_out = "purchase";
    bool force = false, keep_dev = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--pairs", a->pairs, "SIGNAL=FILE, a training behaviour (repeatable), e.g. purchase=buy.txt")->required();
  cmd->add_option("--dev", a->dev, "Held-out pair file for the dev part (e.g. valid.txt)");
  cmd->add_option("--test", a->test, "Held-out pair file for the test part");
  cmd->add_option("--held-out-signal", a->held_out, "The signal the dev and test rows carry")->capture_default_str();
  cmd->add_flag("--keep-dev-in-train", a->keep_dev, "Do not remove the dev pairs from the training file of that signal");
  cmd->add_option("--out", a->out, "Output data folder")->required();
  cmd->add_flag("--force", a->force, "Replace an earlier import at --out");
  cmd->callback([=] {
    PairsImport spec;
    for (const auto& p : a->pairs) {
      const auto eq = p.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == p.size())
        throw Error("--pairs: expected SIGNAL=FILE, got '" + p + "'");
      spec.train.push_back({p.substr(0, eq), p.substr(eq + 1)});
    }
    spec.dev = a->dev;
    spec.test = a->test;
    spec.held_out_signal = a->held_out;
    spec.remove_dev_from_train = !a->keep_dev;
    const auto s = import_pairs(spec, a->out, a->force);
    std::printf("%s: %zu users, %zu items; rows: train %zu, dev %zu, test %zu (%zu dev pairs removed from train)\n",
                a->out.c_str(), s.users, s.items, s.train_rows, s.dev_rows, s.test_rows, s.removed_from_train);
  });
}

void add_train(CLI::App& feed) {
  auto* cmd = feed.add_subcommand("train", "Train a feed model: the user tower (libtorch) and the feed ranker (XGBoost)");
  struct Args {
    std::string data, out, index, options;
    bool force = false, no_tower = false, no_ranker = false, learn_items = false;
    int epochs = 4, threads = 1;
    std::size_t dim = 64;
    double distill = 0;
    std::uint64_t seed = 1;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--data", a->data, "Feed data folder (corpus.jsonl and feed/feed.json)")->required();
  cmd->add_option("--out", a->out, "Output feed model folder (e.g. INDEX/feed)")->required();
  cmd->add_option("--index", a->index, "Index whose stored doc vectors are the item vectors (else they are learned)");
  cmd->add_option("--options", a->options, "Feed state options: JSON text or file (docs/feeds.md)");
  cmd->add_flag("--no-tower", a->no_tower, "No user tower (no user_ann channel, no feed_prerank)");
  cmd->add_flag("--no-ranker", a->no_ranker, "No feed ranker (no feed_rank stage)");
  cmd->add_flag("--learn-items", a->learn_items, "Learn item vectors even when --index has stored ones");
  cmd->add_option("--epochs", a->epochs, "User tower epochs")->capture_default_str()->check(CLI::Range(1, 100));
  cmd->add_option("--dim", a->dim, "Learned item vector dimension")->capture_default_str()->check(CLI::Range(4, 1024));
  cmd->add_option("--distill", a->distill, "Weight of the ranker's scores in the tower's loss (0: off)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed")->capture_default_str();
  cmd->add_option("--threads", a->threads, "Training threads")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_flag("--force", a->force, "Replace an existing model folder");
  cmd->callback([=] {
    const auto data = feed::FeedData::open(a->data);
    const json opt_json = read_json_arg(a->options, "--options");
    const FeedOptions options = feed_options_from_json(opt_json, "--options");
    detail::StagingDir staging(a->out, a->force, "feed.json");
    const fs::path dir = staging.path();
    json m = {{"format", "funnel-feed"}, {"version", feed::kFeedModelVersion}, {"data", data->dir.string()},
              {"options", feed_options_to_json(options)}, {"vectors", nullptr}, {"rank", nullptr}};
    write_manifest(dir / "feed.json", m);
    std::shared_ptr<const Index> index;
    const EmbeddingStore* store = nullptr;
    if (!a->index.empty() && !a->learn_items) {
      index = Index::open(a->index);
      if (index->size() != data->corpus.docs.size())
        throw Error("--index: " + std::to_string(index->size()) + " docs, the feed corpus " +
                    std::to_string(data->corpus.docs.size()) + " items");
      store = index->embeddings().get();
    }
    train::feed::FeedTowerOptions to;
    to.epochs = a->epochs;
    to.dim = a->dim;
    to.seed = a->seed;
    to.threads = a->threads;
    feed::FeedRankOptions ro;
    ro.seed = a->seed;
    ro.threads = a->threads;
    auto train_tower = [&](const auto& teacher) {
      json vectors;
      const auto s = train::feed::train_feed_tower(*data, options, store, dir, to, vectors, teacher, log_line);
      std::printf("user tower: dim %zu (%s item vectors), dev Recall@100 untrained %.4f, trained %.4f, %.1f s\n", s.dim,
                  s.learned_items ? "learned" : "stored", s.dev_recall_untrained, s.dev_recall_trained, s.seconds);
      m["vectors"] = vectors;
      m["trained"]["tower"] = {{"dev_recall@100_untrained", s.dev_recall_untrained},
                               {"dev_recall@100", s.dev_recall_trained}, {"distill", to.distill_weight}};
      write_manifest(dir / "feed.json", m);
    };
    auto train_ranker = [&] {
      const auto model = feed::FeedModel::open(dir, LogPart::kTrain);
      auto r = feed::train_feed_ranker(*model, ro, log_line);
      json models = json::object();
      for (std::size_t h = 0; h < r.heads.size(); ++h) {
        const std::string file = "rank-" + r.heads[h] + ".json";
        r.models[h].save(dir / file);
        models[r.heads[h]] = file;
        std::printf("feed ranker head '%s': %zu positives; importance:", r.heads[h].c_str(), r.positives[h]);
        for (std::size_t i = 0; i < r.importance[h].size() && i < 6; ++i)
          std::printf(" %s %.3g", r.importance[h][i].first.c_str(), r.importance[h][i].second);
        std::printf("\n");
      }
      m["rank"] = {{"heads", r.heads}, {"models", models}};
      m["trained"]["rank"] = {{"rows", r.rows}, {"users", r.users}};
      write_manifest(dir / "feed.json", m);
    };
    if (!a->no_tower) train_tower(nullptr);
    if (!a->no_ranker) train_ranker();
    if (!a->no_tower && !a->no_ranker && a->distill > 0) {
      // The tower again, distilled from the ranker's main head, then the
      // ranker on the new tower's scores.
      const auto teacher_model = feed::FeedModel::open(dir, LogPart::kTrain);
      const auto& head = teacher_model->head_models().front();
      to.distill_weight = a->distill;
      train_tower([&](std::uint32_t user, const std::vector<std::uint32_t>& items) {
        const auto x = feed::feed_features(*teacher_model, user, items);
        return head.predict(x, items.size(), /*margin=*/true);
      });
      train_ranker();
    }
    staging.commit();
    std::printf("feed model written to %s\n", a->out.c_str());
  });
}

void add_feed_eval(CLI::App& feed) {
  auto* cmd = feed.add_subcommand("eval", "Evaluate a feed cascade on the test part: recall per channel, merged, final, baselines");
  struct Args {
    std::string index, model, config;
    std::size_t users = 0;
    std::uint64_t seed = 1;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--index", a->index, "Index folder of the feed's corpus")->required();
  cmd->add_option("--model", a->model, "Feed model folder (default INDEX/feed)");
  cmd->add_option("--config", a->config, "Feed cascade config (e.g. configs/feed.json)")->required();
  cmd->add_option("--users", a->users, "Evaluate a seeded sample of this many test users (0: all)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Sample seed")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the report as JSON");
  cmd->callback([=] {
    const std::string model_dir = a->model.empty() ? (fs::path(a->index) / "feed").string() : a->model;
    std::string where;
    json cfg = load_cascade(a->config, 10, where);
    feed::pin_feed_config(cfg, model_dir, "dev");
    const auto index = Index::open(a->index);
    const Pipeline pipeline(index, cfg, where);
    const auto model = feed::FeedModel::open(model_dir, LogPart::kDev);
    feed::FeedEvalOptions o;
    o.max_users = a->users;
    o.seed = a->seed;
    Progress progress("feed eval");
    const auto rep = feed::evaluate_feed(pipeline, *model, o, [&](std::size_t d, std::size_t t) { progress(d, t); });
    if (a->json)
      std::printf("%s\n", rep.to_json().dump(2).c_str());
    else
      std::printf("%s", rep.to_table().c_str());
  });
}

}  // namespace

void add_feed(CLI::App& app) {
  auto* feed = app.add_subcommand("feed", "Recommendation feeds: import logs, train the feed model, evaluate");
  feed->require_subcommand(1);
  add_import(*feed);
  add_train(*feed);
  add_feed_eval(*feed);
}

}  // namespace funnel::cli
