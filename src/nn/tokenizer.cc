#include "nn/tokenizer.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "funnel/error.h"
#include "util/utf8.h"

namespace funnel::nn {
namespace fs = std::filesystem;

namespace {

struct Shim {
  int (*train)(const char*, char*, int) = nullptr;
  void* (*load)(const char*, char*, int) = nullptr;
  int (*encode)(void*, const char*, int*, int) = nullptr;
  int (*vocab_size)(void*) = nullptr;
  void (*free)(void*) = nullptr;
};

const Shim& shim() {
  static Shim s;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("FUNNEL_SPM_SHIM")) candidates.push_back(env);
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) candidates.push_back((exe.parent_path() / "libfunnel_spm.so").string());
    // Next to the funnel library itself (an installed libfunnel.so).
    Dl_info self;
    if (::dladdr(reinterpret_cast<void*>(&shim), &self) && self.dli_fname)
      candidates.push_back((fs::path(self.dli_fname).parent_path() / "libfunnel_spm.so").string());
    candidates.push_back(FUNNEL_SPM_SHIM_PATH);
    void* lib = nullptr;
    std::string tried;
    for (const auto& c : candidates) {
      lib = ::dlmopen(LM_ID_NEWLM, c.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib) break;
      tried += " " + c;
    }
    if (!lib) throw Error("tokenizer: cannot load libfunnel_spm.so (tried:" + tried + ")");
    s.train = reinterpret_cast<decltype(s.train)>(::dlsym(lib, "funnel_spm_train"));
    s.load = reinterpret_cast<decltype(s.load)>(::dlsym(lib, "funnel_spm_load"));
    s.encode = reinterpret_cast<decltype(s.encode)>(::dlsym(lib, "funnel_spm_encode"));
    s.vocab_size = reinterpret_cast<decltype(s.vocab_size)>(::dlsym(lib, "funnel_spm_vocab_size"));
    s.free = reinterpret_cast<decltype(s.free)>(::dlsym(lib, "funnel_spm_free"));
    if (!s.train || !s.load || !s.encode || !s.vocab_size || !s.free)
      throw Error("tokenizer: libfunnel_spm.so lacks its functions (stale build?)");
  });
  return s;
}

}  // namespace

void Tokenizer::train(const std::vector<std::string>& sentences, const fs::path& prefix, int vocab_size,
                      std::uint64_t seed) {
  // sentencepiece reads its input from a file; write one next to the output.
  fs::path input = prefix;
  input += ".train.txt";
  {
    const auto kept = kept_characters(sentences, vocab_size);
    const std::unordered_set<std::string> keep(kept.begin(), kept.end());
    std::ofstream out(input);
    std::string line;
    for (const auto& s : sentences) {
      // Characters outside the kept set become spaces: they get no piece.
      line.clear();
      detail::for_each_code_point(s, [&](std::string_view c) { line += c == " " || keep.count(std::string(c)) ? c : " "; });
      if (line.find_first_not_of(' ') != std::string::npos) out << line << '\n';
    }
    if (!out) throw Error(input.string() + ": cannot write tokenizer training text");
  }
  // All sentences are used in file order (no sampling), so training is
  // deterministic; `seed` is kept for an API that may sample.
  (void)seed;
  // nmt_nfkc_cf: NFKC plus case folding, so "Captain Rocket" in a title and
  // "captain rocket" in a query become the same pieces (BM25 folds case too).
  // ids: 0 <unk> doubles as padding, 1 <s> as [CLS], 2 </s> as [SEP].
  std::string args = "--input=" + input.string() + " --model_prefix=" + prefix.string() +
                     " --vocab_size=" + std::to_string(vocab_size) +
                     " --model_type=unigram --character_coverage=1.0 --hard_vocab_limit=false"
                     " --normalization_rule_name=nmt_nfkc_cf"
                     " --minloglevel=2 --num_threads=1 --input_sentence_size=0 --shuffle_input_sentence=false"
                     " --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1";
  char err[512] = {0};
  int rc = shim().train(args.c_str(), err, sizeof err);
  std::error_code ec;
  fs::remove(input, ec);
  if (rc != 0) throw Error(prefix.string() + ": tokenizer training failed: " + err);
}

std::vector<std::string> Tokenizer::kept_characters(const std::vector<std::string>& sentences, int vocab_size,
                                                    double* share) {
  std::unordered_map<std::string, std::uint64_t> count;
  std::uint64_t total = 0;
  for (const auto& s : sentences)
    detail::for_each_code_point(s, [&](std::string_view c) {
      if (c == " ") return;
      ++count[std::string(c)];
      ++total;
    });
  std::vector<std::pair<std::string, std::uint64_t>> chars(count.begin(), count.end());
  std::sort(chars.begin(), chars.end(),
            [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  const std::size_t budget = static_cast<std::size_t>(std::max(vocab_size, 2)) / 2;
  if (chars.size() > budget) chars.resize(budget);
  std::uint64_t kept = 0;
  std::vector<std::string> out;
  out.reserve(chars.size());
  for (auto& [c, n] : chars) {
    kept += n;
    out.push_back(std::move(c));
  }
  if (share) *share = total == 0 ? 1.0 : static_cast<double>(kept) / static_cast<double>(total);
  return out;
}

Tokenizer::Tokenizer(const fs::path& model_file) {
  char err[512] = {0};
  handle_ = shim().load(model_file.c_str(), err, sizeof err);
  if (!handle_) throw Error(model_file.string() + ": cannot load tokenizer: " + err);
}

Tokenizer::~Tokenizer() {
  if (handle_) shim().free(handle_);
}

std::vector<std::int64_t> Tokenizer::encode(const std::string& text, std::size_t max_len) const {
  if (max_len == 0) return {};
  std::vector<int> ids(max_len);
  int n = shim().encode(handle_, text.c_str(), ids.data(), static_cast<int>(max_len));
  std::vector<std::int64_t> out;
  out.reserve(max_len);
  out.push_back(kCls);
  for (int i = 0; i < n && out.size() < max_len; ++i) out.push_back(ids[static_cast<std::size_t>(i)]);
  return out;
}

int Tokenizer::vocab_size() const { return shim().vocab_size(handle_); }

}  // namespace funnel::nn
