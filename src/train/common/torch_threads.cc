#include "train/common/torch_threads.h"

#include <mutex>

#include <torch/torch.h>

namespace funnel::train {

void init_torch_threads(int threads) {
  torch::set_num_threads(threads);
  // Settable once per process, before any inter-op work.
  static std::once_flag interop_once;
  std::call_once(interop_once, [] { at::set_num_interop_threads(1); });
}

}  // namespace funnel::train
