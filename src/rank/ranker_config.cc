#include "rank/ranker_config.h"

#include <algorithm>
#include <cmath>

#include "funnel/error.h"

namespace funnel::rank {
using nlohmann::json;

const std::vector<std::string>& all_rank_tasks() {
  static const std::vector<std::string> t = {"relevance", "click", "watch", "finish", "like", "share", "follow"};
  return t;
}

std::vector<float> weighted_scores(const std::vector<float>& logits, std::size_t tasks, const std::vector<double>& weights) {
  std::vector<float> s(tasks ? logits.size() / tasks : 0, 0.0f);
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t t = 0; t < tasks; ++t) s[i] += static_cast<float>(weights[t]) * logits[i * tasks + t];
  return s;
}

json to_json(const CrossRankerConfig& c) {
  return {{"preset", c.preset},
          {"encoder", nn::encoder_to_json(c.encoder)},
          {"use_text", c.use_text},
          {"use_features", c.use_features},
          {"n_features", c.n_features},
          {"feature_mean", c.feature_mean},
          {"feature_std", c.feature_std},
          {"feature_names", c.feature_names},
          {"dnn", c.dnn},
          {"tasks", c.tasks},
          {"task_weights", c.task_weights},
          {"score_weights", c.score_weights}};
}

CrossRankerConfig cross_ranker_from_json(const json& j, const std::string& where) {
  try {
    CrossRankerConfig c;
    c.preset = j.at("preset").get<std::string>();
    c.encoder = nn::encoder_from_json(j.at("encoder"), where);
    c.use_text = j.at("use_text");
    c.use_features = j.at("use_features");
    c.n_features = j.at("n_features");
    c.feature_mean = j.at("feature_mean").get<std::vector<float>>();
    c.feature_std = j.at("feature_std").get<std::vector<float>>();
    c.feature_names = j.at("feature_names").get<std::vector<std::string>>();
    c.dnn = j.at("dnn").get<std::vector<int>>();
    c.tasks = j.at("tasks").get<std::vector<std::string>>();
    c.task_weights = j.at("task_weights").get<std::vector<double>>();
    c.score_weights = j.at("score_weights").get<std::vector<double>>();
    if (!c.use_text && !c.use_features) throw Error(where + ": use_text and use_features cannot both be false");
    const auto nf = static_cast<std::size_t>(c.n_features);
    if (c.use_features && (c.n_features < 1 || c.feature_mean.size() != nf || c.feature_std.size() != nf ||
                           c.feature_names.size() != nf))
      throw Error(where + ": feature_mean, feature_std and feature_names must have n_features entries");
    for (float s : c.feature_std)
      if (!(s > 0) || !std::isfinite(s)) throw Error(where + ": field 'feature_std': expected finite numbers > 0");
    if (c.tasks.empty()) throw Error(where + ": field 'tasks': expected at least one task");
    for (const auto& t : c.tasks)
      if (std::find(all_rank_tasks().begin(), all_rank_tasks().end(), t) == all_rank_tasks().end())
        throw Error(where + ": field 'tasks': unknown task '" + t + "'");
    if (c.task_weights.size() != c.tasks.size() || c.score_weights.size() != c.tasks.size())
      throw Error(where + ": task_weights and score_weights need one number per task");
    if (c.dnn.empty()) throw Error(where + ": field 'dnn': expected at least one layer size");
    for (int h : c.dnn)
      if (h < 1 || h > 65536) throw Error(where + ": field 'dnn': expected layer sizes in 1..65536");
    return c;
  } catch (const json::exception& e) {
    throw Error(where + ": " + e.what());
  }
}

}  // namespace funnel::rank
