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
  // Trains on `sentences` and writes PREFIX.model / PREFIX.vocab.
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
  static constexpr std::int64_t kPad = 0;  // sentencepiece's <unk> id, reused as padding
  static constexpr std::int64_t kCls = 1;  // <s>

 private:
  void* handle_ = nullptr;
};

}  // namespace funnel::nn
