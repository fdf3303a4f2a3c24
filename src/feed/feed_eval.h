// Offline evaluation of a feed cascade on the test part of a log, per user:
// Recall@K and HitRate@K of the items the user engaged with (K = 10, 50,
// 100, 500) for each recall channel alone, for the recall stage's merge and
// for the final list; nDCG@10 over engagement grades; the ranker's click
// AUC and GAUC on the logged test rows; coverage and the long-tail share;
// the popularity and item-CF baselines in the same terms. The cascade and
// the model are opened as of the dev part: nothing of the test part is read
// except the targets. docs/feeds.md defines each number.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "feed/feed_model.h"
#include "funnel/pipeline.h"

namespace funnel::feed {

struct FeedEvalOptions {
  std::size_t max_users = 0;  // evaluate at most this many test users (a seeded sample; 0: all)
  std::uint64_t seed = 1;
  std::size_t depth = 500;    // list length per channel and merge
  std::string auc_signal;     // the signal AUC/GAUC are about ("": the ranker's first head)
};

// Mean metrics of one list kind over the evaluated users.
struct ListMetrics {
  std::map<std::string, double> values;  // "recall@100", "hitrate@10", "ndcg@10", ...
};

struct FeedEvalReport {
  std::size_t users = 0;                          // evaluated users (with test targets)
  std::map<std::string, ListMetrics> channels;    // per recall channel alone
  ListMetrics merged, final_list;
  std::map<std::string, ListMetrics> baselines;   // "popularity", "item_cf"
  double auc = NAN, gauc = NAN;                   // NaN: no rank stage or no negatives
  std::size_t auc_rows = 0, gauc_users = 0;
  double coverage = 0, long_tail_share = 0;       // of the final lists
  nlohmann::json to_json() const;
  std::string to_table() const;
};

// `pipeline`: the feed cascade with its feed entries pinned as of dev
// (pin_feed_config); `model`: the same model folder opened as of dev.
FeedEvalReport evaluate_feed(const Pipeline& pipeline, const FeedModel& model, const FeedEvalOptions& options,
                             const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace funnel::feed
