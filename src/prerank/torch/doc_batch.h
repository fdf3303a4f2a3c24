// The doc tower's input tensors for a batch of corpus rows (libtorch).
#pragma once

#include <cstdint>
#include <vector>

#include "prerank/doc_features.h"
#include "prerank/torch/two_tower.h"

namespace funnel::prerank {

DocBatch make_doc_batch(const DocFeatures& f, const std::vector<std::uint32_t>& rows);

}  // namespace funnel::prerank
