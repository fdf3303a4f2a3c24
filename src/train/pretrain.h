// Masked-language-model pre-training of the text encoder on the corpus text
// (`funnel fit --stage pretrain`), used to initialise the cross ranker and
// the two-tower student (`--init MODELS`). Torch-free header.
//
// Each step takes `batch` docs (title, tags and body as one text), hides
// `mask_rate` of their tokens (BERT's 80/10/10: the <unk> id serves as
// [MASK], a random token, or the token kept) and trains the encoder plus a
// linear output layer to predict them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace funnel::train {

struct PretrainOptions {
  std::string preset = "tiny";  // must match the models it initialises
  int max_len = 64;             // tokens per doc text
  double mask_rate = 0.15;
  int epochs = 1;
  int steps_per_epoch = 1000;   // 0: one pass over the corpus
  int batch = 64;
  double lr = 1e-3;
  std::uint64_t seed = 1;
  int threads = 1;
};

struct PretrainResult {
  std::vector<double> epoch_loss;       // mean masked-token cross-entropy
  double masked_accuracy = 0;           // on held-out docs after training
  double untrained_masked_accuracy = 0; // the same before any step
  std::filesystem::path model_dir;
};

// Writes OUT/pretrain/{config.json, tokenizer.model, encoder.pt,
// train_log.jsonl}. Throws funnel::Error on bad options or data.
PretrainResult pretrain_encoder(const std::filesystem::path& data, const std::filesystem::path& out,
                                const PretrainOptions& options, const std::function<void(const std::string&)>& log);

}  // namespace funnel::train
