#include "nn/text_encoder.h"

namespace funnel::nn {

TextEncoderImpl::TextEncoderImpl(const EncoderConfig& c) : mean_max_(c.pooling == "mean_max") {
  tok_ = register_module("tok", torch::nn::Embedding(c.vocab_size, c.hidden));
  pos_ = register_module("pos", torch::nn::Embedding(c.max_len, c.hidden));
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden})));
  drop_ = register_module("drop", torch::nn::Dropout(c.dropout));
  auto layer = torch::nn::TransformerEncoderLayer(
      torch::nn::TransformerEncoderLayerOptions(c.hidden, c.heads).dim_feedforward(c.ffn).dropout(c.dropout)
          .activation(torch::kGELU));
  enc_ = register_module("enc", torch::nn::TransformerEncoder(layer, c.layers));
}

torch::Tensor TextEncoderImpl::states(const TokenBatch& b) {
  const auto L = b.ids.size(1);
  auto positions = torch::arange(L, torch::TensorOptions().dtype(torch::kLong).device(b.ids.device()));
  auto x = drop_(norm_(tok_(b.ids) + pos_(positions).unsqueeze(0)));
  // libtorch 1.13's encoder is sequence-first.
  return enc_->forward(x.transpose(0, 1), torch::Tensor(), b.pad).transpose(0, 1);
}

torch::Tensor TextEncoderImpl::forward(const TokenBatch& b) {
  auto x = states(b);
  auto keep = (~b.pad).unsqueeze(-1).to(x.dtype());
  auto mean = (x * keep).sum(1) / keep.sum(1).clamp_min(1.0);
  if (!mean_max_) return mean;
  auto mx = std::get<0>(x.masked_fill(b.pad.unsqueeze(-1), -1e4).max(1));
  return mean + mx;
}

}  // namespace funnel::nn
