#include "model/ranker_model.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include "funnel/error.h"
#include "model/batching.h"
#include "model/cross_ranker.h"
#include "model/features.h"
#include "model/rank_inputs.h"
#include "rank/cross_features.h"

namespace funnel::model {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct RankerModel::Impl {
  CrossRankerConfig config;
  std::string model_id;
  std::shared_ptr<const Corpus> corpus;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<rank::CrossFeatures> features;
  RankDocTokens docs;
  CrossRanker net{nullptr};
};

RankerModel::RankerModel() : impl_(std::make_unique<Impl>()) {}
RankerModel::~RankerModel() = default;

std::unique_ptr<RankerModel> RankerModel::load(const fs::path& models_dir, std::shared_ptr<const Corpus> corpus) {
  const fs::path dir = models_dir / "rank";
  for (const char* f : {"config.json", "tokenizer.model", "model.pt", "features.bin"})
    if (!fs::is_regular_file(dir / f))
      throw Error((dir / f).string() + ": missing (train the ranker with `funnel fit --stage rank`)");
  std::unique_ptr<RankerModel> m(new RankerModel());
  auto& I = *m->impl_;
  std::ifstream cin(dir / "config.json");
  std::stringstream cfg_text;
  cfg_text << cin.rdbuf();
  nlohmann::json cfg;
  try {
    cfg = nlohmann::json::parse(cfg_text.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error((dir / "config.json").string() + ": malformed JSON (" + e.what() + ")");
  }
  I.config = cross_ranker_from_json(cfg, (dir / "config.json").string());
  if (I.config.use_features && I.config.n_features != static_cast<int>(rank::CrossFeatures::kCount))
    throw Error((dir / "config.json").string() + ": the model reads " + std::to_string(I.config.n_features) +
                " features, this build computes " + std::to_string(rank::CrossFeatures::kCount) + " (retrain the ranker)");
  I.corpus = std::move(corpus);
  I.tokenizer = std::make_unique<Tokenizer>(dir / "tokenizer.model");
  I.features = std::make_unique<rank::CrossFeatures>(rank::CrossFeatures::load(dir / "features.bin", *I.corpus));
  I.net = CrossRanker(I.config);
  try {
    torch::load(I.net, (dir / "model.pt").string());
  } catch (const c10::Error& e) {
    throw Error((dir / "model.pt").string() + ": cannot load weights: " + e.what_without_backtrace());
  }
  I.net->eval();
  if (I.config.use_text) I.docs = tokenize_rank_docs(*I.corpus, *I.tokenizer, static_cast<std::size_t>(I.config.encoder.max_len));
  I.model_id = model_id_of(models_dir);
  return m;
}

std::string RankerModel::model_id_of(const fs::path& models_dir) {
  const fs::path dir = models_dir / "rank";
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw Error(p.string() + ": cannot read");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  char id[32];
  std::snprintf(id, sizeof id, "%016llx",
                static_cast<unsigned long long>(stable_hash(slurp(dir / "model.pt")) ^
                                                stable_hash(slurp(dir / "config.json"))));
  return std::string("rank-") + id;
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
  TokenBatch tb;
  if (c.use_text) {
    const auto max_len = static_cast<std::size_t>(c.encoder.max_len);
    auto q = rank_query_tokens(query, *I.tokenizer, max_len);
    std::vector<std::vector<std::int64_t>> seqs;
    std::vector<std::uint32_t> idx;
    seqs.reserve(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      seqs.push_back(pair_tokens(q, I.docs.title[rows[i]], I.docs.body[rows[i]], max_len));
      idx.push_back(static_cast<std::uint32_t>(i));
    }
    tb = make_token_batch(seqs, idx);
  }
  CrossRanker net = I.net;  // a handle: forward() is not const
  auto out = net->forward(tb, feats).contiguous();
  std::vector<float> logits(out.data_ptr<float>(), out.data_ptr<float>() + n * T);
  if (timing) {
    timing->features_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    timing->model_ms = std::chrono::duration<double, std::milli>(Clock::now() - t1).count();
  }
  return logits;
}

std::vector<float> RankerModel::score(const std::vector<float>& logits, const std::vector<double>& weights) const {
  const std::size_t T = impl_->config.tasks.size();
  std::vector<float> s(logits.size() / T, 0.0f);
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t t = 0; t < T; ++t) s[i] += static_cast<float>(weights[t]) * logits[i * T + t];
  return s;
}

}  // namespace funnel::model
