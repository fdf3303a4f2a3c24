#include "train/common/encoder_setup.h"

#include "funnel/error.h"
#include "nn/doc_text.h"
#include "train/common/log.h"

namespace funnel::train {
namespace fs = std::filesystem;

EncoderStart start_encoder(const fs::path& dir, nn::EncoderConfig& enc, const std::string& init, const Corpus& corpus,
                           const std::vector<std::string>& queries, std::uint64_t seed, bool keep_existing,
                           const LogFn& log) {
  EncoderStart s;
  const fs::path tokenizer = dir / "tokenizer.model";
  const bool keep = keep_existing && fs::exists(tokenizer);
  if (!init.empty()) {
    nn::PretrainedEncoder pre = nn::load_pretrained(init);
    const auto& p = pre.config;
    if (p.hidden != enc.hidden || p.layers != enc.layers || p.heads != enc.heads || p.ffn != enc.ffn)
      throw Error("fit: --init " + init + ": the pre-trained encoder's shape (hidden " + std::to_string(p.hidden) +
                  ", layers " + std::to_string(p.layers) + ", heads " + std::to_string(p.heads) + ", ffn " +
                  std::to_string(p.ffn) + ") differs from this model's (hidden " + std::to_string(enc.hidden) +
                  ", layers " + std::to_string(enc.layers) + ", heads " + std::to_string(enc.heads) + ", ffn " +
                  std::to_string(enc.ffn) + "); pre-train with the same preset");
    enc.vocab_size = p.vocab_size;
    enc.max_len = std::min(enc.max_len, p.max_len);
    if (!keep) fs::copy_file(pre.tokenizer, tokenizer, fs::copy_options::overwrite_existing);
    s.pretrained = std::move(pre);
  } else if (!keep) {
    std::vector<std::string> text;
    text.reserve(corpus.docs.size() + queries.size());
    for (const auto& d : corpus.docs) text.push_back(nn::doc_text(d));
    text.insert(text.end(), queries.begin(), queries.end());
    log("fit: training the tokenizer (vocab " + std::to_string(enc.vocab_size) + ")");
    double share = 1;
    const std::size_t kept = nn::Tokenizer::kept_characters(text, enc.vocab_size, &share).size();
    if (share < 1)
      log("fit: the text has more distinct characters than the vocabulary can hold; the tokenizer keeps the " +
          std::to_string(kept) + " most frequent (" + fmt("%.1f", 100 * share) + "% of the text) and the rest become <unk>: a larger preset keeps more (docs/text.md)");
    nn::Tokenizer::train(text, dir / "tokenizer", enc.vocab_size, seed);
  }
  s.tokenizer = std::make_unique<nn::Tokenizer>(tokenizer);
  enc.vocab_size = s.tokenizer->vocab_size();
  return s;
}

}  // namespace funnel::train
