#include "rank/ranker_model.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "funnel/error.h"
#include "nn/batching.h"
#include "rank/torch/cross_ranker.h"
#include "nn/model_files.h"
#include "nn/module_io.h"
#include "rank/rank_inputs.h"
#include "rank/cross_features.h"

namespace funnel::rank {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct RankerModel::Impl {
  CrossRankerConfig config;
  std::string model_id;
  std::shared_ptr<const Corpus> corpus;
  std::unique_ptr<nn::Tokenizer> tokenizer;
  std::unique_ptr<CrossFeatures> features;
  RankDocTokens docs;
  CrossRanker net{nullptr};
};

RankerModel::RankerModel() : impl_(std::make_unique<Impl>()) {}
RankerModel::~RankerModel() = default;

std::unique_ptr<RankerModel> RankerModel::load(const fs::path& models_dir, std::shared_ptr<const Corpus> corpus) {
  const fs::path dir = models_dir / "rank";
  nn::require_files(dir, {"config.json", "tokenizer.model", "model.pt", "features.bin"},
                    "train the ranker with `funnel fit --stage rank`");
  std::unique_ptr<RankerModel> m(new RankerModel());
  auto& I = *m->impl_;
  I.config = cross_ranker_from_json(nn::read_json_file(dir / "config.json"), (dir / "config.json").string());
  if (I.config.use_features && I.config.n_features != static_cast<int>(CrossFeatures::kCount))
    throw Error((dir / "config.json").string() + ": the model reads " + std::to_string(I.config.n_features) +
                " features, this build computes " + std::to_string(CrossFeatures::kCount) + " (retrain the ranker)");
  I.corpus = std::move(corpus);
  I.tokenizer = std::make_unique<nn::Tokenizer>(dir / "tokenizer.model");
  I.features = std::make_unique<CrossFeatures>(CrossFeatures::load(dir / "features.bin", *I.corpus));
  I.net = CrossRanker(I.config);
  nn::load_module(I.net, dir / "model.pt");
  I.net->eval();
  if (I.config.use_text) I.docs = tokenize_rank_docs(*I.corpus, *I.tokenizer, static_cast<std::size_t>(I.config.encoder.max_len));
  I.model_id = model_id_of(models_dir);
  return m;
}

std::string RankerModel::model_id_of(const fs::path& models_dir) {
  return nn::model_id("rank", models_dir / "rank" / "model.pt", models_dir / "rank" / "config.json");
}

const CrossRankerConfig& RankerModel::config() const { return impl_->config; }
const std::string& RankerModel::model_id() const { return impl_->model_id; }

std::vector<float> RankerModel::predict(const std::string& query, const std::vector<std::uint32_t>& rows, Timing* timing,
                                        bool skip_features) const {
  const auto& I = *impl_;
  const auto& c = I.config;
  const auto n = static_cast<std::int64_t>(rows.size());
  const auto T = static_cast<std::int64_t>(c.tasks.size());
  if (n == 0) return {};
  for (auto r : rows)
    if (r >= I.corpus->docs.size()) throw Error("rank model: row " + std::to_string(r) + " is outside the corpus");
  auto t0 = Clock::now();
  torch::Tensor feats;
  if (c.use_features) {
    feats = torch::zeros({n, c.n_features}, torch::kFloat);
    if (!skip_features) {
      auto q = I.features->prepare(query);
      float* p = feats.data_ptr<float>();
      for (std::int64_t i = 0; i < n; ++i) I.features->compute(q, rows[static_cast<std::size_t>(i)], p + i * c.n_features);
    }
  }
  auto t1 = Clock::now();
  torch::NoGradGuard no_grad;
  std::vector<std::vector<std::int64_t>> seqs;
  if (c.use_text) {
    const auto max_len = static_cast<std::size_t>(c.encoder.max_len);
    auto q = rank_query_tokens(query, *I.tokenizer, max_len);
    seqs.reserve(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i)
      seqs.push_back(pair_tokens(q, I.docs.title[rows[i]], I.docs.body[rows[i]], max_len));
  }
  CrossRanker net = I.net;  // a handle: forward() is not const
  const torch::Tensor out = forward_in_chunks(net, seqs, feats, n).contiguous();
  std::vector<float> logits(out.data_ptr<float>(), out.data_ptr<float>() + n * T);
  if (timing) {
    timing->features_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    timing->model_ms = std::chrono::duration<double, std::milli>(Clock::now() - t1).count();
  }
  return logits;
}

std::vector<float> RankerModel::score(const std::vector<float>& logits, const std::vector<double>& weights) const {
  return weighted_scores(logits, impl_->config.tasks.size(), weights);
}

}  // namespace funnel::rank
