// Query bookkeeping shared by the trainers. Torch-free.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "funnel/data.h"

namespace funnel::train {

// Query id -> its index in `queries`.
inline std::unordered_map<std::string, std::uint32_t> index_queries(const std::vector<Query>& queries) {
  std::unordered_map<std::string, std::uint32_t> out;
  for (std::size_t i = 0; i < queries.size(); ++i) out[queries[i].id] = static_cast<std::uint32_t>(i);
  return out;
}

// The ids of `qrels` that name a query of `index` and have a relevant doc,
// sorted, then every k-th of them so that at most `n` remain (a dev subset
// that does not depend on hash order).
inline std::vector<std::string> evenly_spaced_judged(const Qrels& qrels,
                                                     const std::unordered_map<std::string, std::uint32_t>& index,
                                                     std::size_t n) {
  std::vector<std::string> ids;
  for (const auto& [q, j] : qrels)
    if (index.count(q) && std::any_of(j.begin(), j.end(), [](const auto& kv) { return kv.second > 0; }))
      ids.push_back(q);
  std::sort(ids.begin(), ids.end());
  if (n == 0) return {};
  const std::size_t stride = std::max<std::size_t>(1, (ids.size() + n - 1) / n);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < ids.size(); i += stride) out.push_back(ids[i]);
  return out;
}

}  // namespace funnel::train
