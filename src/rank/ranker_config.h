// Shape and options of the cross ranker (the rank stage's model), saved as
// MODELS/rank/config.json next to its weights. Torch-free, so serving code
// and the CLI can read it.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/encoder_config.h"

namespace funnel::rank {

// Every objective the ranker can predict, in head order. A model predicts
// the subset its training data had (CrossRankerConfig::tasks).
//  relevance: the human grade (listwise over a query's candidates);
//  click, watch (fraction watched), finish, like, share, follow: logged
//  feedback on impressions (pointwise, binary cross-entropy).
const std::vector<std::string>& all_rank_tasks();

struct CrossRankerConfig {
  std::string preset = "tiny";
  // The encoder reads "[CLS] query [SEP] title tags [SEP] body" cut to
  // encoder.max_len tokens.
  nn::EncoderConfig encoder;
  bool use_text = true;      // the encoder tower (off: features-only DNN)
  bool use_features = true;  // the cross and single-side features (off: text only)
  int n_features = 0;        // rank::CrossFeatures::kCount when use_features
  // Standardisation of the raw features, fitted on training candidates.
  std::vector<float> feature_mean, feature_std;
  std::vector<std::string> feature_names;
  std::vector<int> dnn = {64, 32};  // hidden sizes of the DNN over [encoder output; features]
  std::vector<std::string> tasks;   // heads, in output order (a subset of all_rank_tasks(), relevance first)
  std::vector<double> task_weights; // training loss weight per task
  // Serving score = sum over tasks of weight * head logit (relevance alone
  // by default; the fusion stage tunes these).
  std::vector<double> score_weights;
};

// The ranker's score of each row from its head logits: sum over tasks of
// weights[t] * logits[row * tasks + t], in float, in task order. The one
// place this sum is written: the rank stage (through RankerModel::score)
// and the trainer's dev check both call it.
std::vector<float> weighted_scores(const std::vector<float>& logits, std::size_t tasks, const std::vector<double>& weights);

nlohmann::json to_json(const CrossRankerConfig& c);
// Throws funnel::Error naming `where` on a bad config.
CrossRankerConfig cross_ranker_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace funnel::rank
