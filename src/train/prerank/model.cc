// The student's model, tokenizer, inputs and optimiser.
#include "train/prerank/trainer.h"

#include <algorithm>

#include "funnel/error.h"
#include "nn/model_files.h"
#include "train/common/encoder_setup.h"
#include "train/common/log.h"
#include "util/fs.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

prerank::TwoTowerConfig PrerankTrainer::model_config() const {
  prerank::TwoTowerConfig c;
  c.preset = o_.preset;
  c.encoder = nn::encoder_preset(o_.preset);
  c.encoder.pooling = o_.pooling;
  if (o_.hidden > 0) {
    c.encoder.hidden = o_.hidden;
    c.encoder.ffn = 4 * o_.hidden;
  }
  if (o_.layers > 0) c.encoder.layers = o_.layers;
  c.shared_encoder = o_.shared_encoder;
  c.nq = o_.nq;
  c.nd = o_.nd;
  c.head_dim = o_.head_dim;
  c.cosine = o_.cosine;
  c.matcher = o_.matcher;
  c.beta = o_.beta;
  c.use_image = o_.use_image;
  c.use_author = o_.use_author;
  c.split_fields = o_.split_fields;
  c.bow_buckets = o_.bow_buckets;
  c.image_dim = ds_.corpus.image_dim;
  return c;
}

// A resumed run must be the same model: refuse changed shapes or options.
void PrerankTrainer::check_resumable(const json& now) const {
  if (!(o_.resume && fs::exists(dir_ / "checkpoint.pt") && fs::exists(dir_ / "config.json"))) return;
  const json before = nn::read_json_file(dir_ / "config.json");
  for (auto it = now.begin(); it != now.end(); ++it)
    if (!before.contains(it.key()) || before[it.key()] != it.value())
      throw Error("fit: --resume: option '" + it.key() + "' is " + it.value().dump() + " but the run in " +
                  dir_.string() + " used " + (before.contains(it.key()) ? before[it.key()].dump() : "no such option") +
                  " (rerun with the same options, or train into a new --out)");
}

void PrerankTrainer::build_model() {
  prerank::TwoTowerConfig c = model_config();
  // The tokenizer learns from the corpus and the training queries, in a
  // fixed order so that it is deterministic.
  std::vector<std::uint32_t> qs;
  for (const auto& p : positives_) qs.push_back(p.query);
  std::sort(qs.begin(), qs.end());
  qs.erase(std::unique(qs.begin(), qs.end()), qs.end());
  std::vector<std::string> query_text;
  for (auto q : qs) query_text.push_back(ds_.queries[q].text);
  EncoderStart start = start_encoder(dir_, c.encoder, o_.init, ds_.corpus, query_text, o_.seed, o_.resume, log_);
  tokenizer_ = std::move(start.tokenizer);
  const json config = to_json(c);
  prerank::two_tower_from_json(config, "model config");  // validates
  check_resumable(config);
  {
    detail::AtomicFile f(dir_ / "config.json");
    f.stream() << config.dump(2) << '\n';
    f.commit();
  }
  config_ = c;
  docs_ = prerank::featurize_docs(ds_.corpus, *tokenizer_, c);
  std::vector<std::string> qtexts;
  for (const auto& q : ds_.queries) qtexts.push_back(q.text);
  queries_ = prerank::featurize_queries(qtexts, *tokenizer_, c);
  if (c.bow_buckets > 0) queries_bow_ = prerank::bow_of_texts(qtexts, c.bow_buckets);
  model_ = prerank::TwoTower(c);
  if (start.pretrained) {
    nn::copy_encoder(*start.pretrained, model_->query_encoder());
    if (!c.shared_encoder) nn::copy_encoder(*start.pretrained, model_->doc_encoder());
    log_("fit: encoders initialised from the pre-trained one in " + o_.init + " (mask rate " +
         fmt("%.2f", start.pretrained->mask_rate) + ")");
  }
  optimizer_ = std::make_unique<torch::optim::AdamW>(model_->parameters(),
                                                     torch::optim::AdamWOptions(o_.lr).weight_decay(0.01));
  std::int64_t params = 0;
  for (const auto& p : model_->parameters()) params += p.numel();
  log_("fit: model " + o_.preset + " / " + o_.matcher + ", " + std::to_string(params) + " parameters, " +
       std::to_string(model_->flops_per_pair()) + " matcher FLOPs per pair");
}

}  // namespace funnel::train
