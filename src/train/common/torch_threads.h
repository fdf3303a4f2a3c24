// libtorch thread settings shared by every trainer of one process (an
// ablation or a cross-validation trains several models in a row). Torch-free
// header.
#pragma once

namespace funnel::train {

// Sets libtorch's intra-op threads to `threads` and, once per process (a
// second call would throw in libtorch), its inter-op threads to 1.
void init_torch_threads(int threads);

}  // namespace funnel::train
