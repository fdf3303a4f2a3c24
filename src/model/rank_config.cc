#include "model/rank_config.h"

#include <algorithm>
#include <cmath>

#include "funnel/error.h"

namespace funnel::model {
using nlohmann::json;

const std::vector<std::string>& all_rank_tasks() {
  static const std::vector<std::string> t = {"relevance", "click", "watch", "finish", "like", "share", "follow"};
  return t;
}

json encoder_to_json(const EncoderConfig& e) {
  return {{"vocab_size", e.vocab_size}, {"max_len", e.max_len}, {"hidden", e.hidden}, {"layers", e.layers},
          {"heads", e.heads},           {"ffn", e.ffn},         {"dropout", e.dropout}, {"pooling", e.pooling}};
}

EncoderConfig encoder_from_json(const json& e, const std::string& where) {
  EncoderConfig c;
  c.vocab_size = e.at("vocab_size");
  c.max_len = e.at("max_len");
  c.hidden = e.at("hidden");
  c.layers = e.at("layers");
  c.heads = e.at("heads");
  c.ffn = e.at("ffn");
  c.dropout = e.at("dropout");
  c.pooling = e.value("pooling", std::string("mean"));
  if (c.pooling != "mean" && c.pooling != "mean_max") throw Error(where + ": field 'encoder.pooling': expected mean or mean_max");
  if (c.vocab_size < 8 || c.max_len < 4 || c.hidden < 1 || c.layers < 1 || c.heads < 1 || c.hidden % c.heads != 0)
    throw Error(where + ": field 'encoder': bad shape (vocab_size >= 8, max_len >= 4, hidden a multiple of heads)");
  return c;
}

json to_json(const CrossRankerConfig& c) {
  return {{"preset", c.preset},
          {"encoder", encoder_to_json(c.encoder)},
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
    c.encoder = encoder_from_json(j.at("encoder"), where);
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

}  // namespace funnel::model
