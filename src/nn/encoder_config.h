// The shape of a BERT-style text encoder, saved as JSON next to the weights
// of every model that has one (the two-tower student, the cross ranker, a
// pre-trained encoder). Torch-free.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace funnel::nn {

struct EncoderConfig {
  int vocab_size = 4000;
  int max_len = 48;      // tokens per text, [CLS] included
  int hidden = 128;
  int layers = 2;
  int heads = 4;
  int ffn = 512;
  double dropout = 0.1;
  // Pooled output: "mean" of the token states, or "mean_max" (mean plus
  // max over tokens, which keeps a single strong token match visible).
  std::string pooling = "mean";
};

// Presets: "tiny" (tests), "small" (demo), "base" (BERT-base shape).
// Throws funnel::Error on another name.
EncoderConfig encoder_preset(const std::string& name);

nlohmann::json encoder_to_json(const EncoderConfig& e);
// Throws funnel::Error naming `where` on a missing field or a bad shape.
EncoderConfig encoder_from_json(const nlohmann::json& e, const std::string& where);

}  // namespace funnel::nn
