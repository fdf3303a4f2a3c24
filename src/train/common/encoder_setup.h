// The start of every model with a text encoder (the two-tower student, the
// cross ranker): its tokenizer, trained on the corpus or copied from a
// pre-trained encoder (--init), and the encoder shape that goes with it.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "funnel/data.h"
#include "funnel/train.h"
#include "nn/encoder_config.h"
#include "nn/pretrained.h"
#include "nn/tokenizer.h"

namespace funnel::train {

struct EncoderStart {
  std::unique_ptr<nn::Tokenizer> tokenizer;      // DIR/tokenizer.model, loaded
  std::optional<nn::PretrainedEncoder> pretrained;  // with --init: the weights to copy in
};

// Makes DIR/tokenizer.model and sets enc.vocab_size from it.
//  - With `init` (a models folder with OUT/pretrain): the pre-trained
//    encoder's shape must equal `enc`'s (hidden, layers, heads, ffn), or
//    funnel::Error says to pre-train with the same preset; its tokenizer is
//    copied and enc.max_len is cut to its max_len.
//  - Else a tokenizer is trained on every doc's text and `queries` (in the
//    given order, so that training is deterministic), unless `keep_existing`
//    and DIR/tokenizer.model exists (a resumed run).
EncoderStart start_encoder(const std::filesystem::path& dir, nn::EncoderConfig& enc, const std::string& init,
                           const Corpus& corpus, const std::vector<std::string>& queries, std::uint64_t seed,
                           bool keep_existing, const LogFn& log);

}  // namespace funnel::train
