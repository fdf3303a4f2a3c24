// Training the feed ranker: rows are (user, candidate item) pairs of the
// users who engaged on the dev part, the candidates being what the feed
// channels recall for them as of the training part (users none of whose
// recalled items they engaged with are left out); labels are the dev signals; features come from
// feed_features() (the one function serving uses). One XGBoost model per
// head (fusion/gbdt.h).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "feed/feed_model.h"

namespace funnel::feed {

struct FeedRankOptions {
  std::size_t quota = 200;        // candidates per channel and user
  std::size_t negatives = 50;     // unlabelled candidates kept per user (sampled)
  std::size_t min_positives = 20; // a head needs this many positive rows
  std::uint64_t seed = 1;
  int threads = 1;
  int rounds = 300;
};

struct FeedRankResult {
  std::vector<std::string> heads;                    // trained, in order (the first is the main head)
  std::vector<fusion::GbdtModel> models;
  std::size_t rows = 0, users = 0;
  std::vector<std::size_t> positives;                // per head
  std::vector<std::vector<std::pair<std::string, double>>> importance;  // per head
};

// `model`: the feed model opened as of the training part (with its vectors,
// if any). Heads: the log's grade signals with enough positives. Throws
// funnel::Error when no head has enough positives.
FeedRankResult train_feed_ranker(const FeedModel& model, const FeedRankOptions& options,
                                 const std::function<void(const std::string&)>& log = {});

// The candidates the feed channels recall for `user` (quota each, merged,
// first-found order) — shared by the ranker's training rows and the tower's
// distillation lists.
std::vector<std::uint32_t> feed_training_candidates(const FeedModel& model, std::uint32_t user, std::size_t quota);

}  // namespace funnel::feed
