// A BM25 index of the training corpus in a scratch folder, for the
// trainers' hard negatives and candidate lists: built with the channel's
// default options (the ones `funnel index` uses), removed when the object
// goes, whether training succeeded or threw. Torch-free.
#pragma once

#include <filesystem>
#include <memory>

#include "funnel/data.h"
#include "funnel/recall.h"

namespace funnel::train {

class ScratchBm25 {
 public:
  // Builds the index in `dir` (replacing what an interrupted run left there).
  ScratchBm25(const Corpus& corpus, std::filesystem::path dir);
  ~ScratchBm25();
  ScratchBm25(const ScratchBm25&) = delete;
  ScratchBm25& operator=(const ScratchBm25&) = delete;

  const RecallChannel& channel() const { return *channel_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<RecallChannel> channel_;
};

}  // namespace funnel::train
