#include "nn/pretrained.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "funnel/error.h"
#include "nn/encoder_config.h"

namespace funnel::nn {
namespace fs = std::filesystem;

PretrainedEncoder load_pretrained(const fs::path& models_dir) {
  const fs::path dir = models_dir / "pretrain";
  for (const char* f : {"config.json", "tokenizer.model", "encoder.pt"})
    if (!fs::is_regular_file(dir / f))
      throw Error((dir / f).string() + ": missing (pre-train with `funnel fit --stage pretrain`)");
  std::ifstream in(dir / "config.json");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("encoder"))
    throw Error((dir / "config.json").string() + ": expected a JSON object with 'encoder'");
  PretrainedEncoder p;
  try {
    p.config = encoder_from_json(j.at("encoder"), (dir / "config.json").string());
    p.mask_rate = j.value("mask_rate", 0.0);
  } catch (const nlohmann::json::exception& e) {
    throw Error((dir / "config.json").string() + ": " + e.what());
  }
  p.tokenizer = dir / "tokenizer.model";
  p.weights = dir / "encoder.pt";
  return p;
}

void copy_encoder(const PretrainedEncoder& pre, TextEncoder target) {
  TextEncoder src(pre.config);
  try {
    torch::load(src, pre.weights.string());
  } catch (const c10::Error& e) {
    throw Error(pre.weights.string() + ": cannot load the pre-trained encoder: " + e.what_without_backtrace());
  }
  torch::NoGradGuard no_grad;
  auto from = src->named_parameters();
  for (auto& kv : target->named_parameters()) {
    const torch::Tensor* s = from.find(kv.key());
    if (!s) throw Error(pre.weights.string() + ": the pre-trained encoder has no parameter " + kv.key());
    auto& t = kv.value();
    if (s->sizes() == t.sizes()) {
      t.copy_(*s);
    } else if (kv.key() == "pos.weight" && s->dim() == 2 && s->size(1) == t.size(1) && s->size(0) >= t.size(0)) {
      t.copy_(s->slice(0, 0, t.size(0)));
    } else {
      throw Error(pre.weights.string() + ": parameter " + kv.key() + " has another shape than the model's (pre-train with the same preset)");
    }
  }
}

}  // namespace funnel::nn
