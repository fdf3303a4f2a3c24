// The feed ranker's inputs: user and user-item cross features of candidate
// items for one user, computed from a FeedModel (its state as of a log part
// and its vectors). One function, called by the rank stage when serving and
// by `funnel feed train` when building the ranker's training rows, so the
// two never disagree. docs/feeds.md lists the features.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "feed/feed_model.h"

namespace funnel::feed {

// The column names, in order.
const std::vector<std::string>& feed_feature_names();

// items.size() x feed_feature_names().size() values, row-major; NaN where a
// value is unknown (no user vector, no time). An unknown user (nullopt) gets
// the item-only columns.
std::vector<float> feed_features(const FeedModel& model, std::optional<std::uint32_t> user,
                                 std::span<const std::uint32_t> items);

}  // namespace funnel::feed
