#include "nn/batching.h"

#include <algorithm>

namespace funnel::nn {

void make_bag(const std::vector<std::vector<std::int64_t>>& bow, const std::vector<std::uint32_t>& rows,
              torch::Tensor& ids, torch::Tensor& offsets) {
  std::vector<std::int64_t> flat, starts;
  for (auto r : rows) {
    starts.push_back(static_cast<std::int64_t>(flat.size()));
    flat.insert(flat.end(), bow[r].begin(), bow[r].end());
  }
  ids = torch::tensor(flat, torch::kLong);
  offsets = torch::tensor(starts, torch::kLong);
}

TokenBatch make_token_batch(const std::vector<std::vector<std::int64_t>>& tokens,
                            const std::vector<std::uint32_t>& rows,
                            const std::vector<std::vector<std::int64_t>>* bow) {
  std::size_t L = 1;
  for (auto r : rows) L = std::max(L, tokens[r].size());
  const auto B = static_cast<std::int64_t>(rows.size());
  auto ids = torch::zeros({B, static_cast<std::int64_t>(L)}, torch::kLong);
  auto pad = torch::ones({B, static_cast<std::int64_t>(L)}, torch::kBool);
  auto ia = ids.accessor<std::int64_t, 2>();
  auto pa = pad.accessor<bool, 2>();
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& t = tokens[rows[b]];
    for (std::size_t k = 0; k < t.size(); ++k) {
      ia[b][static_cast<std::int64_t>(k)] = t[k];
      pa[b][static_cast<std::int64_t>(k)] = false;
    }
  }
  TokenBatch out{ids, pad, {}, {}};
  if (bow && !bow->empty()) make_bag(*bow, rows, out.bag, out.bag_offsets);
  return out;
}

}  // namespace funnel::nn
