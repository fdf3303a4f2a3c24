#include <chrono>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "funnel/world.h"
#include "progress.h"

namespace funnel::cli {

void add_gen(CLI::App& app) {
  auto* cmd = app.add_subcommand("gen", "Generate the synthetic video-search world (BEIR layout + logs)");
  auto opt = std::make_shared<WorldOptions>();
  auto out = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  cmd->add_option("--out", *out, "Output folder (created atomically)")->required();
  cmd->add_option("--docs", opt->docs, "Documents (videos)")->capture_default_str();
  cmd->add_option("--queries", opt->queries, "Queries")->capture_default_str();
  cmd->add_option("--users", opt->users, "Users")->capture_default_str();
  cmd->add_option("--impressions", opt->impressions, "Logged impressions")->capture_default_str();
  cmd->add_option("--seed", opt->seed, "Random seed; the same seed gives byte-identical files")->capture_default_str();
  cmd->add_option("--image-dim", opt->image_dim, "Dimension of image_vec")->capture_default_str();
  cmd->add_option("--feed-pages", opt->feed_pages,
                  "Recommendation feed pages over all days (default: 4 per user; 0: no feed)");
  cmd->add_option("--feed-days", opt->feed_days,
                  "Days of feed traffic (the last 2 are the test part, the one before them dev)")
      ->capture_default_str();
  cmd->add_flag("--force", *force, "Replace the output folder if it exists");
  cmd->callback([=] {
    auto t0 = std::chrono::steady_clock::now();
    Progress progress("gen");
    World w = make_world(*opt, [&](const std::string& phase, std::size_t d, std::size_t n) {
      progress.update("gen " + phase, d, n);
    });
    write_world(w, *out, *force);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("generated %zu docs, %zu queries, %zu users, %zu impressions, %zu feed rows into %s in %.1f s\n",
                w.corpus.docs.size(), w.queries.size(), w.user_interests.size(), w.impressions.size(),
                w.feed.rows.size(), out->c_str(), secs);
  });
}

}  // namespace funnel::cli
