// A doc moving through the cascade, with what every stage did to it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace funnel {

// Score and 1-based rank that an item had when it left one stage.
struct StageMark {
  std::uint32_t stage;  // index into Response::trace
  double score;
  std::uint32_t rank;
};

// One recall channel's own score for a candidate it found.
struct ChannelScore {
  std::uint32_t bit = 0;  // channel_bit(channel name), funnel/stage.h
  float score = 0;        // the channel's score (BM25 weight, ANN similarity)
};

// One candidate doc. Stages read and rewrite these in place; the pipeline
// appends a StageMark each time one leaves a stage.
struct Candidate {
  static constexpr std::size_t kMaxChannelScores = 4;
  std::uint32_t row = 0;        // corpus row
  double score = 0;             // score given by the last stage that scored it
  std::uint32_t channels = 0;   // bit i set: found by the channel channel_name_of_bit(i)
  // The scores of up to kMaxChannelScores channels that found it, kept for
  // later stages that use recall scores (the fusion in funnel/fusion.h).
  std::array<ChannelScore, kMaxChannelScores> channel_scores{};
  std::uint8_t n_channel_scores = 0;
  std::vector<StageMark> marks; // one per stage passed, in order
  // Predicted rates (pXtr) of the ranker's heads, set by the rank stage:
  // pxtr[i] belongs to (*pxtr_names)[i]. Empty before a rank stage.
  std::shared_ptr<const std::vector<std::string>> pxtr_names;
  std::vector<float> pxtr;

  // The score channel `bit` gave this candidate; false if none is recorded.
  bool channel_score(std::uint32_t bit, float& out) const {
    for (std::size_t i = 0; i < n_channel_scores; ++i)
      if (channel_scores[i].bit == bit) {
        out = channel_scores[i].score;
        return true;
      }
    return false;
  }
};

}  // namespace funnel
