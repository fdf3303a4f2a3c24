// Tensors from prepared features (libtorch).
#pragma once

#include <cstdint>
#include <vector>

#include "model/features.h"
#include "model/two_tower.h"

namespace funnel::model {

// Pads the selected token lists to the longest one in the batch; with
// `bow`, also the rows' hashed-word bags.
TokenBatch make_token_batch(const std::vector<std::vector<std::int64_t>>& tokens,
                            const std::vector<std::uint32_t>& rows,
                            const std::vector<std::vector<std::int64_t>>* bow = nullptr);
DocBatch make_doc_batch(const DocFeatures& f, const std::vector<std::uint32_t>& rows);

}  // namespace funnel::model
