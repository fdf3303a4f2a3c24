#include "prerank/encoders.h"

#include <mutex>

#include "funnel/error.h"
#include "prerank/prerank_model.h"

namespace funnel {

std::unique_ptr<DocEncoder> load_doc_encoder(const std::filesystem::path& models_dir) {
  return prerank::make_doc_encoder(models_dir);
}

namespace prerank {
namespace fs = std::filesystem;

namespace {

class ModelDocEncoder final : public DocEncoder {
 public:
  explicit ModelDocEncoder(const fs::path& dir) : dir_(dir), model_(PrerankModel::load(dir)) {}
  std::string model_id() const override { return model_->model_id(); }
  std::string models_dir() const override { return dir_.string(); }
  std::uint32_t heads() const override { return static_cast<std::uint32_t>(model_->config().nd); }
  std::uint32_t dim() const override { return static_cast<std::uint32_t>(model_->config().head_dim); }
  std::vector<float> encode(const Corpus& corpus, const ProgressFn& progress) const override {
    return model_->encode_docs(corpus, progress);
  }

 private:
  fs::path dir_;
  std::unique_ptr<PrerankModel> model_;
};

class ModelQueryEncoder final : public QueryEncoder {
 public:
  explicit ModelQueryEncoder(std::unique_ptr<PrerankModel> m) : model_(std::move(m)) {}
  std::uint32_t heads() const override { return static_cast<std::uint32_t>(model_->config().nq); }
  std::uint32_t dim() const override { return static_cast<std::uint32_t>(model_->config().head_dim); }
  std::vector<float> encode(std::string_view query) const override {
    std::lock_guard lock(mu_);  // one query-tower pass at a time
    return model_->encode_queries({std::string(query)});
  }

 private:
  std::unique_ptr<PrerankModel> model_;
  mutable std::mutex mu_;
};

}  // namespace

std::unique_ptr<DocEncoder> make_doc_encoder(const fs::path& models_dir) {
  return std::make_unique<ModelDocEncoder>(models_dir);
}

std::unique_ptr<PrerankModel> load_matching_model(const fs::path& models_dir, const std::string& expected_model_id,
                                                  const std::string& where) {
  auto model = PrerankModel::load(models_dir);
  if (model->model_id() != expected_model_id)
    throw Error(where + ": the index embeddings were encoded by model " + expected_model_id + ", but " +
                models_dir.string() + " holds " + model->model_id() + " (run `funnel index --refresh`)");
  return model;
}

std::shared_ptr<const QueryEncoder> make_query_encoder(std::unique_ptr<PrerankModel> model) {
  return std::make_shared<ModelQueryEncoder>(std::move(model));
}

ScorerOptions scorer_options(const PrerankModel& model, const std::string& where) {
  const auto& c = model.config();
  ScorerOptions so;
  so.matcher = parse_matcher(c.matcher, where);
  if (so.matcher == Matcher::kEsim) so.esim = model.esim_weights();
  so.beta = static_cast<float>(c.beta);
  return so;
}

}  // namespace prerank
}  // namespace funnel
