// The feed's stage and channel types, registered with the built-in ones:
//   channels "item2item", "user_ann", "follow", "trending", "revisit"
//     {"type", "quota", "model"?, "as_of"?}
//   stage "feed_prerank" (the user tower's score: user vector . item vector)
//     {"type", "keep" (200), "model"?, "as_of"?}
//   stage "feed_rank" (the feed ranker's heads as pXtr; score: the first head)
//     {"type", "keep" (50), "model"?, "as_of"?}
// "model" is the feed model folder (default INDEX/feed); "as_of" the log
// part the state and user vectors read up to (default "test": all of it).
// Requests name the user in Request::user_id; a user the log does not know
// gets trending only.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "funnel/stage.h"

namespace funnel::feed {

void add_feed_types(std::map<std::string, StageFactory>& stages, std::map<std::string, ChannelFactory>& channels);

// Whether `type` is a feed stage or channel type (for callers that pin a
// config's feed entries to a model and log part, e.g. `funnel eval --feed`).
bool is_feed_type(const std::string& type);
// Sets "model" and "as_of" on every feed stage and channel of a cascade
// config (in place).
void pin_feed_config(nlohmann::json& cascade, const std::string& model, const std::string& as_of);

}  // namespace funnel::feed
