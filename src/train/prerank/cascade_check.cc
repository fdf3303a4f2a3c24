#include "train/prerank/cascade_check.h"

#include <algorithm>

#include "funnel/fusion.h"

namespace funnel::train {

std::vector<float> fused_scores(const CheckList& list, double w) {
  std::vector<float> s = list.own;
  fuse_recall_scores(s, list.recall, w);
  return s;
}

double recall_at_keep(const std::vector<CheckList>& lists, double w, std::size_t keep) {
  if (lists.empty()) return 0;
  double sum = 0;
  for (const auto& l : lists) {
    std::size_t hits = 0;
    for (std::size_t i : best_indices(fused_scores(l, w), l.rows, keep)) hits += l.relevant.count(l.rows[i]);
    sum += static_cast<double>(hits) / static_cast<double>(std::max<std::size_t>(1, l.n_relevant));
  }
  return sum / static_cast<double>(lists.size());
}

const std::vector<double>& prerank_fusion_grid() {
  static const std::vector<double> grid = {0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0};
  return grid;
}

FusionFit fit_fusion_weight(const std::vector<CheckList>& lists, std::size_t keep) {
  FusionFit best{0, -1};
  for (double w : prerank_fusion_grid()) {
    const double r = recall_at_keep(lists, w, keep);
    if (r > best.recall) best = {w, r};
  }
  return best;
}

}  // namespace funnel::train
