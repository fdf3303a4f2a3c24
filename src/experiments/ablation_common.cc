// What the ablations (and cross-validation) share: loading the evaluation
// data and indexing a trained student.
#include <filesystem>
#include <fstream>

#include "experiments/ablation.h"
#include "funnel/error.h"

namespace funnel::experiments {
namespace fs = std::filesystem;

AblationOptions default_ablation_options() {
  AblationOptions a;
  a.train.preset = "tiny";
  a.train.epochs = 1;
  a.train.steps_per_epoch = 1000;
  return a;
}

EvalOptions AblationData::eval_options(std::size_t keep) const {
  EvalOptions eo;
  eo.k = keep;
  if (!impressions.empty()) eo.impressions = &impressions;
  if (!human.empty()) eo.human_labels = &human;
  return eo;
}

AblationData load_ablation_data(const fs::path& data) {
  if (!fs::is_directory(data)) throw Error(data.string() + ": data folder not found");
  AblationData d;
  d.ds = load_dataset(data);
  d.test = load_qrels(data, "test");
  if (fs::exists(data / "impressions.jsonl")) d.impressions = read_impressions(data / "impressions.jsonl");
  if (fs::exists(data / "human_labels.tsv")) d.human = read_qrels(data / "human_labels.tsv");
  return d;
}

bool finished_run(const fs::path& result, const nlohmann::json& setup, nlohmann::json& row) {
  std::ifstream in(result);
  if (!in) return false;
  row = nlohmann::json::parse(in, nullptr, false);
  return !row.is_discarded() && row.is_object() && row.value("setup", nlohmann::json()) == setup;
}

std::shared_ptr<const Index> index_for_student(const fs::path& bm25_index, const fs::path& dest, const Corpus& corpus,
                                               const fs::path& models) {
  fs::copy(bm25_index, dest, fs::copy_options::recursive);
  auto enc = load_doc_encoder(models);
  refresh_embeddings(dest, corpus, *enc, Precision::kFp32);
  return Index::open(dest);
}

}  // namespace funnel::experiments
