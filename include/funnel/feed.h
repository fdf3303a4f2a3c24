// Recommendation feeds: what the feed's recall channels and features know
// about users and items, built from an interaction log (funnel/interactions.h)
// as of a part of its split, never from later parts. docs/feeds.md explains
// the channels; the formulas are written once here and in src/feed/.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "funnel/interactions.h"
#include "funnel/recall.h"

namespace funnel {

struct FeedOptions {
  // The user's last N engaged items that item2item expands (its recent
  // history), and that the user tower reads.
  std::size_t history = 50;
  // item2item: neighbours kept per item, best first.
  std::size_t neighbours = 200;
  // item2item similarity of items i and j over the users who engaged with
  // them (U_i, U_j): "cosine" = |U_i & U_j| / sqrt(|U_i| |U_j|) (item-CF,
  // the popularity normalisation of Sarwar et al. 2001), or "swing" (Yang et
  // al. 2020: sum over user pairs u, v in U_i & U_j of 1 / (alpha + |I_u &
  // I_v|), which discounts pairs of users who engage with everything).
  std::string similarity = "cosine";
  double swing_alpha = 1.0;
  // A user's items beyond this many (their most recent) are left out of the
  // co-engagement counts (heavy users add pairs quadratically).
  std::size_t cooccurrence_cap = 300;
  // trending: half-life of an engagement's weight in hours (0: plain
  // engagement counts, the popularity baseline). Logs without time always
  // count plainly.
  double trending_half_life_hours = 24;
  // follow: half-life of an item's recency (from its publication, else its
  // first engagement) in hours, and the weight of an explicit follow next
  // to one engagement with the author.
  double follow_half_life_hours = 72;
  double follow_weight = 3;
  // Newest items kept per author for the follow channel.
  std::size_t items_per_author = 100;
};

// Reads FeedOptions from JSON (missing keys keep defaults, unknown keys are
// an error naming `where`), and back.
FeedOptions feed_options_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json feed_options_to_json(const FeedOptions& o);

// The state of a feed as of the end of the log parts up to `as_of`:
// engagement histories, exclusions, item-to-item neighbours, trending and
// authors. Immutable after build(); thread-safe to read. Users are the log's
// users (rows of FeedLog::log.user_ids), items are corpus rows.
class FeedState {
 public:
  // One engaged item of a user: the item, its latest engagement time
  // (Interaction::kNoTime without time) and the sum of the grades.
  struct Engaged {
    std::uint32_t item;
    std::int64_t time;
    float grade;
  };

  // Builds from the rows of `log` whose part is <= `as_of` (a row of a later
  // part is never read). `corpus` supplies authors and publication times.
  static std::shared_ptr<const FeedState> build(const Corpus& corpus, const FeedLog& log, LogPart as_of,
                                                const FeedOptions& options);

  const FeedOptions& options() const { return options_; }
  LogPart as_of() const { return as_of_; }
  std::size_t users() const { return history_.size(); }
  std::size_t items() const { return item_users_.size(); }
  // The user row of `id`, or nullopt (a user the log does not know).
  std::optional<std::uint32_t> user(std::string_view id) const;
  const std::string& user_id(std::uint32_t user) const { return user_ids_[user]; }
  // The clock of requests: the latest time read (kNoTime without time).
  std::int64_t now() const { return now_; }

  // The user's engaged items, oldest first (one entry per item).
  std::span<const Engaged> history(std::uint32_t user) const { return history_[user]; }
  // Whether the user is not to be shown `item` again (FeedLog::excludes).
  bool excluded(std::uint32_t user, std::uint32_t item) const;
  std::span<const std::uint32_t> excluded_items(std::uint32_t user) const { return excluded_[user]; }
  // Users who engaged with the item.
  std::size_t item_users(std::uint32_t item) const { return item_users_[item]; }
  // The item's neighbours by similarity, best first.
  std::span<const std::pair<std::uint32_t, float>> neighbours(std::uint32_t item) const { return neighbours_[item]; }
  // The item's time-decayed engagement at now() (trending_half_life_hours).
  float trending(std::uint32_t item) const { return trending_[item]; }
  // Items with any engagement, by trending() descending (row ascending on ties).
  std::span<const std::uint32_t> trending_order() const { return trending_order_; }
  // The item's author as a dense id (kNoAuthor for an empty author).
  static constexpr std::uint32_t kNoAuthor = 0xffffffffu;
  std::uint32_t author(std::uint32_t item) const { return author_of_[item]; }
  std::size_t authors() const { return author_items_.size(); }
  // The author's newest items (published, else first engaged), newest first.
  std::span<const std::uint32_t> author_items(std::uint32_t author) const { return author_items_[author]; }
  // The user's affinity to authors: (author, weight), weight = grades of
  // engagements with the author + follow_weight per follow, highest first.
  std::span<const std::pair<std::uint32_t, float>> user_authors(std::uint32_t user) const { return user_authors_[user]; }
  // The item's age at now() in hours (0 when unknown or in the future).
  double age_hours(std::uint32_t item) const;

 private:
  FeedOptions options_;
  LogPart as_of_ = LogPart::kTrain;
  std::vector<std::string> user_ids_;
  std::unordered_map<std::string, std::uint32_t> user_row_;
  std::int64_t now_ = Interaction::kNoTime;
  std::vector<std::vector<Engaged>> history_;
  std::vector<std::vector<std::uint32_t>> excluded_;  // sorted
  std::vector<std::uint32_t> item_users_;
  std::vector<std::vector<std::pair<std::uint32_t, float>>> neighbours_;
  std::vector<float> trending_;
  std::vector<std::uint32_t> trending_order_;
  std::vector<std::uint32_t> author_of_;
  std::vector<std::vector<std::uint32_t>> author_items_;
  std::vector<std::vector<std::pair<std::uint32_t, float>>> user_authors_;
  std::vector<std::int64_t> item_time_;  // published, else first engagement; kNoTime if neither
};

// The feed's recall channels over a state, by name: "item2item", "follow",
// "trending", "revisit" (the user's own engaged items that are not excluded,
// e.g. carted but not bought); user_ann needs vectors (funnel/feed_model.h).
// Each returns the user's best `k` items, best first, never an excluded
// item; an unknown user gets the channels that need no user (trending).
std::vector<RecallHit> feed_channel_hits(const FeedState& state, std::string_view channel,
                                         std::optional<std::uint32_t> user, std::size_t k);
// The channel names feed_channel_hits knows.
std::span<const char* const> feed_state_channels();

}  // namespace funnel
