#include <algorithm>
#include <numeric>

#include "funnel/error.h"
#include "funnel/fusion.h"

namespace funnel {

void fuse_recall_scores(std::span<float> own, std::span<const float> recall, double weight) {
  if (!(weight > 0)) return;
  float top = 0;
  for (float r : recall) top = std::max(top, r);
  if (!(top > 0)) return;
  const float w = static_cast<float>(weight);
  for (std::size_t i = 0; i < own.size(); ++i)
    if (recall[i] > 0) own[i] += w * recall[i] / top;
}

std::vector<std::size_t> best_indices(std::span<const float> scores, std::span<const std::uint32_t> rows,
                                      std::size_t n) {
  if (rows.size() != scores.size()) throw Error("best_indices: rows and scores differ in length");
  std::vector<std::size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  n = std::min(n, idx.size());
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n), idx.end(),
                    [&](std::size_t a, std::size_t b) { return ranks_before(scores[a], rows[a], scores[b], rows[b]); });
  idx.resize(n);
  return idx;
}

std::vector<std::pair<std::uint32_t, float>> top_n(std::span<const std::uint32_t> rows, std::span<const float> scores,
                                                   std::size_t n) {
  std::vector<std::pair<std::uint32_t, float>> out;
  for (std::size_t i : best_indices(scores, rows, n)) out.emplace_back(rows[i], scores[i]);
  return out;
}

}  // namespace funnel
