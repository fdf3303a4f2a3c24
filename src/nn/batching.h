// Padded tensors from prepared token lists (libtorch).
#pragma once

#include <cstdint>
#include <vector>

#include "nn/text_encoder.h"

namespace funnel::nn {

// Pads the token lists tokens[rows[i]] to the longest one in the batch; with
// `bow`, also the rows' hashed-word bags (EmbeddingBag input).
TokenBatch make_token_batch(const std::vector<std::vector<std::int64_t>>& tokens,
                            const std::vector<std::uint32_t>& rows,
                            const std::vector<std::vector<std::int64_t>>* bow = nullptr);
// EmbeddingBag input of bow[rows[i]]: every id flat, and where each row's ids start.
void make_bag(const std::vector<std::vector<std::int64_t>>& bow, const std::vector<std::uint32_t>& rows,
              torch::Tensor& ids, torch::Tensor& offsets);

}  // namespace funnel::nn
