// The synthetic world's user model: what a user does with a doc shown to
// them. One formula, called by the log generators (src/gen/world_logs.cc,
// src/gen/world_feed.cc) and by the live-traffic simulator
// (src/sim/simulator.cc), so that the
// simulator answers with the same behaviour that wrote the logs: the
// ground truth, never a trained model. docs/world.md explains the story.
#pragma once

#include <algorithm>
#include <cmath>

#include "funnel/world.h"
#include "util/rng.h"

namespace funnel::gen {

// The signals of one impression (as in funnel::Impression).
struct UserFeedback {
  bool click = false;
  float watch = 0;  // fraction watched, 0..1, rounded to 1/1000; 0 without a click
  bool finish = false, like = false, share = false, follow = false;
};

// How user `u` reacts to doc `d` (a "short" video when `short_video`) shown
// at 0-based `position` for a query to which the doc has relevance `grade`
// (0..3). The click depends on relevance, position and interest; what
// follows a click (watch, finish, like, share, follow) depends also on the
// doc's quality and the user's taste, so relevance and engagement differ.
// Draws from `rng` in a fixed order (click; then, after a click, watch,
// like, share, follow): the generated logs depend on it.
inline UserFeedback user_feedback(const WorldUserTruth& u, const WorldDocTruth& d, bool short_video, int grade,
                                  int position, detail::Rng& rng) {
  using detail::sigmoid;
  const double interest = u.interest(d.topic);
  UserFeedback f;
  const double examine = 1.0 / std::pow(1.0 + position, 0.9);
  const double attract = sigmoid(-2.6 + 1.1 * grade + 2.0 * interest + (short_video ? 0.2 : 0.0));
  f.click = rng.chance(examine * attract);
  if (!f.click) return f;
  const double w = sigmoid(-0.2 + 3.0 * (d.quality - 0.5) + 1.5 * interest + 0.25 * grade + u.patience +
                           (short_video ? 0.8 : -0.4) + 0.6 * rng.normal());
  f.watch = static_cast<float>(std::round(w * 1000) / 1000);
  f.finish = f.watch >= 0.9f;
  f.like = rng.chance(std::min(1.0, u.like_p * (0.2 + 1.8 * d.quality) * (0.5 + interest) * 2 * w));
  f.share = rng.chance(std::min(1.0, u.share_p * 3 * d.quality * d.quality * (0.5 + interest)));
  f.follow = rng.chance(std::min(1.0, u.follow_p * (0.2 + 1.6 * d.quality) * 2 * w));
  return f;
}

// How user `u` reacts to doc `d` shown at 0-based `position` of a feed page
// (no query): user_feedback with the author standing in for relevance, grade
// 1 when the user follows the doc's author (`followed`) and 0 otherwise, so
// feeds and search answer with one formula. A followed author cannot be
// followed again: `follow` is then false (drawn all the same, so the draws
// do not depend on it).
inline UserFeedback feed_feedback(const WorldUserTruth& u, const WorldDocTruth& d, bool short_video, bool followed,
                                  int position, detail::Rng& rng) {
  UserFeedback f = user_feedback(u, d, short_video, followed ? 1 : 0, position, rng);
  if (followed) f.follow = false;
  return f;
}

}  // namespace funnel::gen
