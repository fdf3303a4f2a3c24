// A subword tokenizer trained on the corpus with sentencepiece (unigram
// model), saved next to the model. Torch-free.
//
// sentencepiece is reached through a small shared library (libfunnel_spm.so)
// loaded with dlmopen into a link-map namespace of its own, because its
// bundled protobuf clashes with the one libtorch loads (src/nn/spm_shim/spm_shim.cc).
// The library is looked up in $FUNNEL_SPM_SHIM, next to the running
// executable, next to the funnel library, then in the build folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace funnel::nn {

class Tokenizer {
 public:
  // Trains on `sentences` and writes PREFIX.model / PREFIX.vocab; only the
  // kept_characters(sentences, vocab_size) get pieces.
  // Throws funnel::Error.
  static void train(const std::vector<std::string>& sentences, const std::filesystem::path& prefix,
                    int vocab_size, std::uint64_t seed);
  // Loads PREFIX.model. Throws funnel::Error naming the file.
  explicit Tokenizer(const std::filesystem::path& model_file);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Token ids of `text`: [CLS] then at most max_len - 1 pieces (nothing for
  // max_len 0); every id is >= 0 and < vocab_size().
  std::vector<std::int64_t> encode(const std::string& text, std::size_t max_len) const;
  int vocab_size() const;

  // The characters (UTF-8 code points, spaces aside) the vocabulary keeps:
  // all of them when the text has at most vocab_size / 2 distinct ones
  // (English, accented Latin); otherwise the vocab_size / 2 most frequent
  // (ties: the smaller code point first), so that single characters never
  // take more than half the vocabulary. train() leaves the others out of its
  // training text; they encode to <unk>. Chinese, with thousands of distinct
  // characters, thus fits a small vocabulary instead of failing to train
  // (sentencepiece needs every character of its coverage, at least 98%, to
  // have a piece). `share`, if given, receives the share of character
  // occurrences kept.
  static std::vector<std::string> kept_characters(const std::vector<std::string>& sentences, int vocab_size,
                                                  double* share = nullptr);
  static constexpr std::int64_t kPad = 0;  // sentencepiece's <unk> id, reused as padding
  static constexpr std::int64_t kCls = 1;  // <s>

 private:
  void* handle_ = nullptr;
};

}  // namespace funnel::nn
