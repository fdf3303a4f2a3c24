#include "nn/encoder_config.h"

#include "funnel/error.h"

namespace funnel::nn {
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

json encoder_to_json(const EncoderConfig& e) {
  return {{"vocab_size", e.vocab_size}, {"max_len", e.max_len}, {"hidden", e.hidden}, {"layers", e.layers},
          {"heads", e.heads},           {"ffn", e.ffn},         {"dropout", e.dropout}, {"pooling", e.pooling}};
}

EncoderConfig encoder_from_json(const json& e, const std::string& where) {
  EncoderConfig c;
  try {
    c.vocab_size = e.at("vocab_size");
    c.max_len = e.at("max_len");
    c.hidden = e.at("hidden");
    c.layers = e.at("layers");
    c.heads = e.at("heads");
    c.ffn = e.at("ffn");
    c.dropout = e.at("dropout");
    c.pooling = e.value("pooling", std::string("mean"));  // absent in models from before the option
  } catch (const json::exception& x) {
    throw Error(where + ": field 'encoder': " + x.what());
  }
  if (c.pooling != "mean" && c.pooling != "mean_max") throw Error(where + ": field 'encoder.pooling': expected mean or mean_max");
  if (c.vocab_size < 8 || c.max_len < 4 || c.hidden < 1 || c.layers < 1 || c.heads < 1 || c.hidden % c.heads != 0)
    throw Error(where + ": field 'encoder': bad shape (vocab_size >= 8, max_len >= 4, hidden a multiple of heads)");
  return c;
}

}  // namespace funnel::nn
