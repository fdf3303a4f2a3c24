// Shapes and options of the two-tower pre-rank model, saved as
// MODELS/prerank/config.json next to its weights. Torch-free, so that
// serving code and benchmarks can read it.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "nn/encoder_config.h"

namespace funnel::prerank {

struct TwoTowerConfig {
  std::string preset = "small";
  nn::EncoderConfig encoder;
  bool shared_encoder = true;  // one encoder for both towers
  int nq = 3;                  // query heads
  int nd = 3;                  // doc heads
  int head_dim = 64;
  bool cosine = false;         // L2-normalise head vectors
  std::string matcher = "soft_attention";  // dot | soft_attention | esim
  double beta = 5.0;           // soft_attention temperature (docs/techniques.md, late interaction)
  int esim_proj = 32;          // ESIM projection size after enhancement
  bool use_image = true;       // image_vec channel in the doc tower
  bool use_author = true;      // author / category channels
  // Title + tags and the body as two text channels of the doc tower (each
  // through the encoder, fused with the others); off: one channel with all.
  bool split_fields = false;
  // Hashed word unigrams and bigrams (Que2Search's multi-hash bag): one
  // EmbeddingBag shared by both towers, added to the query encoding and a
  // channel of the doc tower. 0 turns it off.
  int bow_buckets = 0;
  int image_dim = 0;           // from the corpus
  int author_buckets = 4096;   // authors hashed into this many embeddings
};

nlohmann::json to_json(const TwoTowerConfig& c);
// Throws funnel::Error naming `where` on a bad config.
TwoTowerConfig two_tower_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace funnel::prerank
