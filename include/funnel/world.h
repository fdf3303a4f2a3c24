// The embedded default data: a synthetic video-search world, generated from a
// seed. It is built so that every technique of the cascade has something to
// win or lose on: vocabulary mismatch (doc-side synonyms), polysemous entity
// names, authors, categories, a latent quality that drives engagement but not
// relevance, an image channel, users with tastes, and impression logs from a
// noisy, position-biased logging ranker. docs/world.md explains the model.
//
// It also writes recommendation feeds over simulated days: a noisy logging
// recommender's pages (no query) with the same user model's feedback, for
// recall and ranking without a query (docs/world.md, "Feeds").
//
// Output (`write_world`), in the BEIR layout plus logs:
//   corpus.jsonl, queries.jsonl, qrels/{train,dev,test}.tsv,
//   human_labels.tsv, impressions.jsonl, users.jsonl, world.json,
//   feed/interactions.tsv, feed/feed.json (funnel/interactions.h; only
//   when WorldOptions::feed_pages > 0)
// The same options and seed give byte-identical files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "funnel/data.h"
#include "funnel/interactions.h"
#include "funnel/recall.h"

namespace funnel {

struct WorldOptions {
  std::size_t docs = 50000;
  std::size_t queries = 5000;
  std::size_t users = 10000;
  std::size_t impressions = 500000;
  std::uint64_t seed = 42;
  int image_dim = 32;
  std::size_t page_size = 10;          // impressions per request
  double polysemous_share = 0.15;      // entities with 2-3 topics
  double doc_synonym_rate = 0.55;      // a doc writes a concept with a synonym
  double query_synonym_rate = 0.05;    // a query does
  double vague_title_share = 0.08;     // docs whose title and text say little
  double typo_rate = 0.08;             // queries with one typo
  double reorder_rate = 0.15;          // multi-word queries with words reordered
  double human_label_share = 0.10;     // queries with human labels
  double label_noise = 0.10;           // chance a human label is off by one
  double train_share = 0.7, dev_share = 0.1;  // the rest is test
  // Feeds (docs/world.md, "Feeds"). Days run from day 0; the last
  // feed_test_days are the test part, the feed_dev_days before them the dev
  // part, the rest (at least one day) the training part.
  int feed_days = 14;                  // simulated days of feed traffic
  int feed_dev_days = 1;               // days in the dev part (>= 0)
  int feed_test_days = 2;              // days in the test part (>= 1)
  // Pages shown over all days (page_size items each); 0 = no feed. The
  // default is 4 per user (40,000 for the default 10,000 users), so small
  // worlds get small feeds; make_world records the number it used.
  static constexpr std::size_t kFeedPagesAuto = static_cast<std::size_t>(-1);
  std::size_t feed_pages = kFeedPagesAuto;
  double feed_fresh_share = 0.25;      // share of docs published during the feed days (the rest before day 0)
  double feed_follows = 3;             // mean number of authors a user follows at day 0
};

// Latent truth kept next to the generated records (not written to the
// data files, except what world.json summarises). Used by tests and docs.
struct WorldDocTruth {
  int topic;
  int entity;               // -1: none
  int author;
  bool vague;               // title and text say little
  float quality;            // 0..1, drives engagement, not relevance
  std::vector<int> concepts;  // indices into the topic's core words
};

struct WorldQueryTruth {
  std::string intent;  // "entity", "entity_topic", "topic"
  int topic;           // -1 for "entity"
  int entity;          // -1 for "topic"
  std::vector<int> concepts;
  bool typo = false, reordered = false, synonym = false;
  bool short_name = false;  // entity typed by its first word only
  std::string split;   // "train", "dev", "test"
};

// A user's latent tastes: the ground truth behind their feedback, read by
// the world's user model (src/gen/user_model.h) when the logs are written
// and when the live-traffic simulator (funnel/simulator.h) serves requests.
struct WorldUserTruth {
  std::vector<std::pair<int, double>> interests;  // (topic, weight), weights sum to 1
  double like_p = 0, share_p = 0, follow_p = 0;   // base rates of the actions after a click
  double patience = 0;                            // shifts the watched fraction
  double activity = 0;                            // relative rate of requests
  std::vector<int> follows;  // authors (WorldDocTruth::author) followed at the feed's start; empty without a feed
  // The weight of `topic` among the user's interests (0 if none).
  double interest(int topic) const {
    for (auto& [t, w] : interests)
      if (t == topic) return w;
    return 0;
  }
};

struct World {
  WorldOptions options;
  std::vector<std::string> topic_names;
  std::vector<std::string> entity_names;
  std::vector<std::vector<int>> entity_topics;  // per entity, 1..3 topics
  Corpus corpus;
  std::vector<WorldDocTruth> doc_truth;        // per corpus row
  std::vector<Query> queries;
  std::vector<WorldQueryTruth> query_truth;    // per query
  Qrels qrels;                                 // all splits, grade >= 1 only
  Qrels human_labels;                          // noisy grades, incl. 0s
  std::vector<std::vector<std::string>> user_interests;  // declared topic names per user
  std::vector<WorldUserTruth> user_truth;      // per user (users.jsonl order)
  std::vector<int> query_topic;                // per query: the topic its traffic comes from
  std::vector<Impression> impressions;
  // Feeds; both empty when options.feed_pages == 0.
  std::vector<std::int64_t> doc_published;  // per corpus row: seconds since the start of feed day 0
                                            // (negative: published before the feed, >= -30 days)
  // The feed log: users named as in users.jsonl, items = corpus rows, time =
  // day * 86400 + second of the day, signals click, watch, finish, like,
  // share, follow (as in Impression), rows sorted by time.
  Interactions feed;
};

// Generates a world in memory. Deterministic for given options.
// Throws funnel::Error on invalid options.
// `progress` is called with a phase name ("docs", "queries", "impressions", "feed")
// and (done, total) during generation.
using PhaseProgressFn = std::function<void(const std::string& phase, std::size_t, std::size_t)>;
World make_world(const WorldOptions& options, const PhaseProgressFn& progress = {});

// Writes `world` into folder `out` (atomically: a temporary folder renamed
// into place). Refuses a non-empty `out` unless `overwrite`.
void write_world(const World& world, const std::filesystem::path& out, bool overwrite);

}  // namespace funnel
