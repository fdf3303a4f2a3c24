#include "train/common/scratch_bm25.h"

namespace funnel::train {
namespace fs = std::filesystem;

ScratchBm25::ScratchBm25(const Corpus& corpus, fs::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::remove_all(dir_, ec);
  try {
    build_bm25_index(corpus, dir_, Bm25Options{});
    channel_ = open_bm25_channel(dir_, Bm25Options{});
  } catch (...) {
    fs::remove_all(dir_, ec);
    throw;
  }
}

ScratchBm25::~ScratchBm25() {
  channel_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace funnel::train
