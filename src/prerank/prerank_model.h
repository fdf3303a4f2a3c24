// A trained two-tower model loaded for inference: the query tower at serving
// time, the doc tower offline (`funnel index --models`). Torch-free header
// (pimpl), so serving code can hold one without libtorch headers.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "funnel/data.h"
#include "funnel/prerank_scorer.h"
#include "funnel/recall.h"
#include "prerank/model_config.h"

namespace funnel::prerank {

class PrerankModel {
 public:
  // Loads MODELS/prerank/{config.json, tokenizer.model, model.pt}. Throws
  // funnel::Error naming the missing or damaged file.
  static std::unique_ptr<PrerankModel> load(const std::filesystem::path& models_dir);
  ~PrerankModel();

  const TwoTowerConfig& config() const;
  // Identifies the weights (a hash of model.pt and config.json).
  const std::string& model_id() const;

  // Head vectors of each text: texts x nq x head_dim floats, row-major.
  std::vector<float> encode_queries(const std::vector<std::string>& texts) const;
  // Head vectors of every doc: docs x nd x head_dim floats.
  std::vector<float> encode_docs(const Corpus& corpus, const ProgressFn& progress = {}) const;
  // The trained esim matching layer as plain floats for the serving scorer;
  // throws funnel::Error unless the model's matcher is esim.
  std::shared_ptr<const EsimWeights> esim_weights() const;
  // The libtorch model's own scores of `query` against corpus `rows` (the
  // reference that serving kernels are tested against).
  std::vector<float> score(const std::string& query, const Corpus& corpus,
                           const std::vector<std::uint32_t>& rows) const;

 private:
  PrerankModel();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace funnel::prerank
