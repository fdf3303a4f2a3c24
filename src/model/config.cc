#include "model/config.h"

#include "funnel/error.h"

namespace funnel::model {
using nlohmann::json;

EncoderConfig encoder_preset(const std::string& name) {
  EncoderConfig c;
  if (name == "tiny") {
    c.vocab_size = 1000; c.max_len = 24; c.hidden = 32; c.layers = 1; c.heads = 2; c.ffn = 64;
  } else if (name == "small") {
    c.vocab_size = 4000; c.max_len = 48; c.hidden = 128; c.layers = 2; c.heads = 4; c.ffn = 512;
  } else if (name == "base") {
    c.vocab_size = 30000; c.max_len = 128; c.hidden = 768; c.layers = 12; c.heads = 12; c.ffn = 3072;
  } else {
    throw Error("unknown preset '" + name + "' (expected tiny, small or base)");
  }
  return c;
}

json to_json(const TwoTowerConfig& c) {
  const auto& e = c.encoder;
  return {{"preset", c.preset},
          {"encoder", {{"vocab_size", e.vocab_size}, {"max_len", e.max_len}, {"hidden", e.hidden},
                       {"layers", e.layers}, {"heads", e.heads}, {"ffn", e.ffn}, {"dropout", e.dropout}, {"pooling", e.pooling}}},
          {"shared_encoder", c.shared_encoder}, {"nq", c.nq}, {"nd", c.nd}, {"head_dim", c.head_dim},
          {"cosine", c.cosine}, {"matcher", c.matcher}, {"beta", c.beta}, {"esim_proj", c.esim_proj},
          {"use_image", c.use_image}, {"use_author", c.use_author}, {"split_fields", c.split_fields}, {"bow_buckets", c.bow_buckets}, {"image_dim", c.image_dim},
          {"author_buckets", c.author_buckets}};
}

TwoTowerConfig two_tower_from_json(const json& j, const std::string& where) {
  try {
    TwoTowerConfig c;
    c.preset = j.at("preset").get<std::string>();
    const json& e = j.at("encoder");
    c.encoder.vocab_size = e.at("vocab_size");
    c.encoder.max_len = e.at("max_len");
    c.encoder.hidden = e.at("hidden");
    c.encoder.layers = e.at("layers");
    c.encoder.heads = e.at("heads");
    c.encoder.ffn = e.at("ffn");
    c.encoder.dropout = e.at("dropout");
    c.encoder.pooling = e.value("pooling", std::string("mean"));  // absent in models from before the option
    if (c.encoder.pooling != "mean" && c.encoder.pooling != "mean_max")
      throw Error(where + ": field 'encoder.pooling': expected mean or mean_max");
    c.shared_encoder = j.at("shared_encoder");
    c.nq = j.at("nq");
    c.nd = j.at("nd");
    c.head_dim = j.at("head_dim");
    c.cosine = j.at("cosine");
    c.matcher = j.at("matcher").get<std::string>();
    c.beta = j.at("beta");
    c.esim_proj = j.at("esim_proj");
    c.use_image = j.at("use_image");
    c.use_author = j.at("use_author");
    c.split_fields = j.value("split_fields", false);  // absent in models from before the option
    c.bow_buckets = j.value("bow_buckets", 0);
    if (c.bow_buckets < 0 || c.bow_buckets > (1 << 24)) throw Error(where + ": field 'bow_buckets': expected 0..16777216");
    c.image_dim = j.at("image_dim");
    c.author_buckets = j.at("author_buckets");
    if (c.matcher != "dot" && c.matcher != "soft_attention" && c.matcher != "esim")
      throw Error(where + ": field 'matcher': expected dot, soft_attention or esim");
    if (c.matcher == "dot" && (c.nq != 1 || c.nd != 1))
      throw Error(where + ": matcher 'dot' needs nq = nd = 1");
    if (c.nq < 1 || c.nd < 1 || c.head_dim < 1 || c.nq > 64 || c.nd > 64)
      throw Error(where + ": nq, nd in 1..64 and head_dim >= 1");
    if (c.encoder.hidden % c.encoder.heads != 0)
      throw Error(where + ": encoder.hidden must be a multiple of encoder.heads");
    return c;
  } catch (const json::exception& e) {
    throw Error(where + ": " + e.what());
  }
}

}  // namespace funnel::model
