// A trained cross ranker loaded for inference (the rank stage, the bench,
// the stored scores that distil it into the pre-ranker). Torch-free header
// (pimpl).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "funnel/data.h"
#include "rank/ranker_config.h"

namespace funnel::rank {

class RankerModel {
 public:
  // Loads MODELS/rank/{config.json, tokenizer.model, model.pt, features.bin}
  // over `corpus`, which must be the corpus the ranker was trained on (its
  // size is checked). Tokenizes every doc once. Throws funnel::Error naming
  // the missing or damaged file.
  static std::unique_ptr<RankerModel> load(const std::filesystem::path& models_dir,
                                           std::shared_ptr<const Corpus> corpus);
  ~RankerModel();
  // The model id of the ranker saved in MODELS/rank (a hash of model.pt
  // and config.json), without loading it. Throws funnel::Error if missing.
  static std::string model_id_of(const std::filesystem::path& models_dir);

  const CrossRankerConfig& config() const;
  // Identifies the weights (a hash of model.pt and config.json).
  const std::string& model_id() const;

  // Where the time of one predict() call went.
  struct Timing {
    double features_ms = 0, model_ms = 0;
  };
  // Head logits of `query` against corpus `rows`: rows x tasks floats,
  // row-major, tasks in config().tasks order. With `skip_features` the
  // feature inputs are zeros (the cost of the model alone; the scores are
  // then meaningless). Thread-safe.
  std::vector<float> predict(const std::string& query, const std::vector<std::uint32_t>& rows,
                             Timing* timing = nullptr, bool skip_features = false) const;
  // The serving score of each row: sum over tasks of score_weights * logit.
  std::vector<float> score(const std::vector<float>& logits, const std::vector<double>& weights) const;

 private:
  RankerModel();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace funnel::rank
