#include "prerank/prerank_model.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "funnel/error.h"
#include "nn/batching.h"
#include "prerank/doc_features.h"
#include "prerank/torch/doc_batch.h"
#include "nn/model_files.h"
#include "nn/module_io.h"
#include "nn/tokenizer.h"
#include "prerank/torch/two_tower.h"

namespace funnel::prerank {
namespace fs = std::filesystem;

struct PrerankModel::Impl {
  TwoTowerConfig config;
  std::string model_id;
  std::unique_ptr<nn::Tokenizer> tokenizer;
  TwoTower net{nullptr};
};

PrerankModel::PrerankModel() : impl_(std::make_unique<Impl>()) {}
PrerankModel::~PrerankModel() = default;

std::unique_ptr<PrerankModel> PrerankModel::load(const fs::path& models_dir) {
  const fs::path dir = models_dir / "prerank";
  nn::require_files(dir, {"config.json", "tokenizer.model", "model.pt"}, "train with `funnel fit`");
  std::unique_ptr<PrerankModel> m(new PrerankModel());
  m->impl_->config = two_tower_from_json(nn::read_json_file(dir / "config.json"), (dir / "config.json").string());
  m->impl_->tokenizer = std::make_unique<nn::Tokenizer>(dir / "tokenizer.model");
  m->impl_->net = TwoTower(m->impl_->config);
  nn::load_module(m->impl_->net, dir / "model.pt");
  m->impl_->net->eval();
  m->impl_->model_id = nn::model_id("prerank", dir / "model.pt", dir / "config.json");
  return m;
}

const TwoTowerConfig& PrerankModel::config() const { return impl_->config; }
const std::string& PrerankModel::model_id() const { return impl_->model_id; }

std::vector<float> PrerankModel::encode_queries(const std::vector<std::string>& texts) const {
  torch::NoGradGuard no_grad;
  auto tokens = featurize_queries(texts, *impl_->tokenizer, impl_->config);
  auto bow = bow_of_texts(impl_->config.bow_buckets > 0 ? texts : std::vector<std::string>{}, impl_->config.bow_buckets);
  std::vector<float> out;
  const std::size_t per = static_cast<std::size_t>(impl_->config.nq) * impl_->config.head_dim;
  out.reserve(texts.size() * per);
  for (std::size_t s = 0; s < texts.size(); s += 256) {
    std::vector<std::uint32_t> rows;
    for (std::size_t i = s; i < std::min(texts.size(), s + 256); ++i) rows.push_back(static_cast<std::uint32_t>(i));
    auto h = impl_->net->encode_queries(nn::make_token_batch(tokens, rows, &bow)).contiguous();
    out.insert(out.end(), h.data_ptr<float>(), h.data_ptr<float>() + h.numel());
  }
  return out;
}

std::vector<float> PrerankModel::encode_docs(const Corpus& corpus, const ProgressFn& progress) const {
  torch::NoGradGuard no_grad;
  TwoTowerConfig c = impl_->config;
  if (corpus.image_dim != c.image_dim && c.use_image && c.image_dim > 0)
    throw Error("prerank model: the model reads image_vec of dimension " + std::to_string(c.image_dim) +
                ", the corpus has " + std::to_string(corpus.image_dim));
  DocFeatures f = featurize_docs(corpus, *impl_->tokenizer, c);
  const std::size_t n = corpus.docs.size();
  std::vector<float> out;
  out.reserve(n * static_cast<std::size_t>(c.nd) * c.head_dim);
  const std::size_t B = 256;
  for (std::size_t s = 0; s < n; s += B) {
    std::vector<std::uint32_t> rows;
    for (std::size_t i = s; i < std::min(n, s + B); ++i) rows.push_back(static_cast<std::uint32_t>(i));
    auto h = impl_->net->encode_docs(make_doc_batch(f, rows)).contiguous();
    out.insert(out.end(), h.data_ptr<float>(), h.data_ptr<float>() + h.numel());
    if (progress && ((s / B + 1) % 20 == 0 || s + B >= n)) progress(std::min(n, s + B), n);
  }
  return out;
}

std::shared_ptr<const EsimWeights> PrerankModel::esim_weights() const {
  const auto& c = impl_->config;
  if (c.matcher != "esim") throw Error("prerank model: matcher is " + c.matcher + ", not esim");
  auto params = impl_->net->named_parameters();
  auto get = [&](const char* name) {
    const torch::Tensor* t = params.find(name);
    if (!t) throw Error(std::string("prerank model: no parameter ") + name);
    auto v = t->detach().to(torch::kFloat).contiguous();
    return std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
  };
  auto w = std::make_shared<EsimWeights>();
  w->dim = static_cast<std::uint32_t>(c.head_dim);
  w->proj = static_cast<std::uint32_t>(c.esim_proj);
  w->enhance_w = get("esim.enhance.weight");
  w->enhance_b = get("esim.enhance.bias");
  w->hidden_w = get("esim.hidden.weight");
  w->hidden_b = get("esim.hidden.bias");
  w->out_w = get("esim.out.weight");
  w->out_b = get("esim.out.bias").at(0);
  return w;
}

std::vector<float> PrerankModel::score(const std::string& query, const Corpus& corpus,
                                       const std::vector<std::uint32_t>& rows) const {
  torch::NoGradGuard no_grad;
  const auto& c = impl_->config;
  auto qtok = featurize_queries({query}, *impl_->tokenizer, c);
  auto qbow = bow_of_texts(c.bow_buckets > 0 ? std::vector<std::string>{query} : std::vector<std::string>{}, c.bow_buckets);
  auto q = impl_->net->encode_queries(nn::make_token_batch(qtok, {0}, &qbow));
  DocFeatures f = featurize_docs(corpus, *impl_->tokenizer, c);
  auto d = impl_->net->encode_docs(make_doc_batch(f, rows));
  auto s = impl_->net->score_matrix(q, d).squeeze(0).contiguous();
  return std::vector<float>(s.data_ptr<float>(), s.data_ptr<float>() + s.numel());
}

}  // namespace funnel::prerank
