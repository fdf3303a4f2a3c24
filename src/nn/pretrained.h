// A pre-trained text encoder (OUT/pretrain, written by `funnel fit --stage
// pretrain`) and copying it into a model's encoder. libtorch header.
#pragma once

#include <filesystem>
#include <string>

#include "nn/encoder_config.h"
#include "nn/text_encoder.h"

namespace funnel::nn {

struct PretrainedEncoder {
  EncoderConfig config;
  std::filesystem::path tokenizer;  // its tokenizer.model: models initialised from it must use it
  std::filesystem::path weights;    // encoder.pt
  double mask_rate = 0;
};

// Reads MODELS/pretrain/config.json and checks the files exist. Throws
// funnel::Error naming the missing or damaged file.
PretrainedEncoder load_pretrained(const std::filesystem::path& models_dir);
// Loads the pre-trained weights into `target`, whose shape must match
// (hidden, layers, heads, ffn, vocab); a target with a shorter max_len takes
// the first position embeddings. Throws funnel::Error on a mismatch.
void copy_encoder(const PretrainedEncoder& pre, TextEncoder target);

}  // namespace funnel::nn
