// The user tower of a feed model folder (torch-free header): trains it on
// the training part of the log (src/train/feed/user_tower.h) and writes the
// vectors serving reads: MODEL/items.f32 and the user vectors as of each log
// part, MODEL/users-{train,dev,test}.f32 (a user's vector as of part P reads
// their engagement history up to P only).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "feed/feed_model.h"
#include "funnel/embedding_store.h"
#include "funnel/feed.h"

namespace funnel::train::feed {

struct FeedTowerOptions {
  int epochs = 4;
  std::size_t dim = 64;           // with learned item vectors (no store)
  double distill_weight = 0;      // > 0: KL to the ranker's scores over each dev user's candidates
  std::uint64_t seed = 1;
  int threads = 1;
};

struct FeedTowerSummary {
  std::size_t dim = 0;
  bool learned_items = false;
  double dev_recall_untrained = 0, dev_recall_trained = 0;  // Recall@100 on dev
  double seconds = 0;
};

// `data`: the feed data; `options`: the feed state options; `store`: the
// index's doc vectors (nullptr: learn an item table); `teacher`, when set,
// gives the ranker's logits for (user, items) (distillation). Writes the
// vector files into `out` and returns the "vectors" entry of feed.json in
// `vectors_json`.
FeedTowerSummary train_feed_tower(
    const funnel::feed::FeedData& data, const FeedOptions& state_options, const EmbeddingStore* store,
    const std::filesystem::path& out, const FeedTowerOptions& options, nlohmann::json& vectors_json,
    const std::function<std::vector<float>(std::uint32_t user, const std::vector<std::uint32_t>& items)>& teacher,
    const std::function<void(const std::string&)>& log);

}  // namespace funnel::train::feed
