#include "prerank/model_config.h"

#include "funnel/error.h"

namespace funnel::prerank {
using nlohmann::json;

json to_json(const TwoTowerConfig& c) {
  return {{"preset", c.preset},
          {"encoder", nn::encoder_to_json(c.encoder)},
          {"shared_encoder", c.shared_encoder}, {"nq", c.nq}, {"nd", c.nd}, {"head_dim", c.head_dim},
          {"cosine", c.cosine}, {"matcher", c.matcher}, {"beta", c.beta}, {"esim_proj", c.esim_proj},
          {"use_image", c.use_image}, {"use_author", c.use_author}, {"split_fields", c.split_fields}, {"bow_buckets", c.bow_buckets}, {"image_dim", c.image_dim},
          {"author_buckets", c.author_buckets}};
}

TwoTowerConfig two_tower_from_json(const json& j, const std::string& where) {
  try {
    TwoTowerConfig c;
    c.preset = j.at("preset").get<std::string>();
    c.encoder = nn::encoder_from_json(j.at("encoder"), where);
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
    return c;
  } catch (const json::exception& e) {
    throw Error(where + ": " + e.what());
  }
}

}  // namespace funnel::prerank
