#include "funnel/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace funnel::metrics {
namespace {

int grade_of(const Judgments& judged, const std::string& id) {
  auto it = judged.find(id);
  return it == judged.end() ? 0 : it->second;
}

// Non-positive grades carry no gain; without the clamp a negative grade
// would make 2^g - 1 negative and could push nDCG below 0.
double gain(int grade) {
  return grade > 0 ? std::exp2(static_cast<double>(grade)) - 1.0 : 0.0;
}

// Rank is 1-based, so the discount is log2(rank + 1).
double discount(std::size_t rank) {
  return std::log2(static_cast<double>(rank) + 1.0);
}

std::size_t count_relevant(const Judgments& judged) {
  return static_cast<std::size_t>(
      std::count_if(judged.begin(), judged.end(),
                    [](const auto& kv) { return kv.second > 0; }));
}

std::size_t cutoff(std::span<const std::string> ranked, std::size_t k) {
  return std::min(ranked.size(), k);
}

}  // namespace

double ndcg_at_k(std::span<const std::string> ranked, const Judgments& judged,
                 std::size_t k) {
  // The ideal comes from every judged grade, so docs the system failed to
  // retrieve still raise the bar (trec_eval's ndcg_cut).
  std::vector<int> ideal;
  ideal.reserve(judged.size());
  for (const auto& [id, grade] : judged) {
    if (grade > 0) ideal.push_back(grade);
  }
  if (ideal.empty()) return 0.0;
  std::sort(ideal.begin(), ideal.end(), std::greater<>());

  double idcg = 0.0;
  const std::size_t ideal_n = std::min(ideal.size(), k);
  for (std::size_t i = 0; i < ideal_n; ++i) {
    idcg += gain(ideal[i]) / discount(i + 1);
  }
  if (idcg == 0.0) return 0.0;  // k == 0

  double dcg = 0.0;
  const std::size_t n = cutoff(ranked, k);
  for (std::size_t i = 0; i < n; ++i) {
    dcg += gain(grade_of(judged, ranked[i])) / discount(i + 1);
  }
  return dcg / idcg;
}

double average_precision(std::span<const std::string> ranked,
                         const Judgments& judged, std::size_t k) {
  const std::size_t num_relevant = count_relevant(judged);
  if (num_relevant == 0) return 0.0;

  std::size_t hits = 0;
  double sum_precision = 0.0;
  const std::size_t n = cutoff(ranked, k);
  for (std::size_t i = 0; i < n; ++i) {
    if (grade_of(judged, ranked[i]) > 0) {
      ++hits;
      sum_precision += static_cast<double>(hits) / static_cast<double>(i + 1);
    }
  }
  // Dividing by all relevant docs, not by the hits, is what penalises
  // relevant docs that were never retrieved.
  return sum_precision / static_cast<double>(num_relevant);
}

double reciprocal_rank(std::span<const std::string> ranked,
                       const Judgments& judged, std::size_t k) {
  const std::size_t n = cutoff(ranked, k);
  for (std::size_t i = 0; i < n; ++i) {
    if (grade_of(judged, ranked[i]) > 0) {
      return 1.0 / static_cast<double>(i + 1);
    }
  }
  return 0.0;
}

double recall_at_k(std::span<const std::string> ranked, const Judgments& judged,
                   std::size_t k) {
  const std::size_t num_relevant = count_relevant(judged);
  if (num_relevant == 0) return 0.0;

  std::size_t hits = 0;
  const std::size_t n = cutoff(ranked, k);
  for (std::size_t i = 0; i < n; ++i) {
    if (grade_of(judged, ranked[i]) > 0) ++hits;
  }
  return static_cast<double>(hits) / static_cast<double>(num_relevant);
}

double precision_at_k(std::span<const std::string> ranked,
                      const Judgments& judged, std::size_t k) {
  if (k == 0) return 0.0;  // avoid 0/0; P@0 is meaningless

  std::size_t hits = 0;
  const std::size_t n = cutoff(ranked, k);
  for (std::size_t i = 0; i < n; ++i) {
    if (grade_of(judged, ranked[i]) > 0) ++hits;
  }
  // The divisor stays k even for short lists, as in trec_eval.
  return static_cast<double>(hits) / static_cast<double>(k);
}

double auc(std::span<const float> scores, std::span<const float> labels) {
  const std::size_t n = scores.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return scores[a] < scores[b];
  });

  // Mann-Whitney U: giving tied scores their average rank makes each
  // positive/negative tie contribute exactly half a win.
  double positive_rank_sum = 0.0;
  std::size_t num_pos = 0;
  std::size_t i = 0;
  while (i < n) {
    std::size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    // Ranks i+1 .. j (1-based) averaged.
    const double avg_rank = (static_cast<double>(i + 1 + j)) / 2.0;
    for (std::size_t t = i; t < j; ++t) {
      if (labels[order[t]] > 0) {
        positive_rank_sum += avg_rank;
        ++num_pos;
      }
    }
    i = j;
  }

  const std::size_t num_neg = n - num_pos;
  if (num_pos == 0 || num_neg == 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double p = static_cast<double>(num_pos);
  const double u = positive_rank_sum - p * (p + 1.0) / 2.0;
  return u / (p * static_cast<double>(num_neg));
}

double gauc(std::span<const float> scores, std::span<const float> labels,
            std::span<const std::uint64_t> groups) {
  std::unordered_map<std::uint64_t, std::vector<std::size_t>> members;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    members[groups[i]].push_back(i);
  }

  double weighted_sum = 0.0;
  double total_weight = 0.0;
  std::vector<float> group_scores;
  std::vector<float> group_labels;
  for (const auto& [group, idx] : members) {
    group_scores.clear();
    group_labels.clear();
    for (std::size_t i : idx) {
      group_scores.push_back(scores[i]);
      group_labels.push_back(labels[i]);
    }
    const double a = auc(group_scores, group_labels);
    if (std::isnan(a)) continue;  // one-class group: AUC undefined
    const double w = static_cast<double>(idx.size());
    weighted_sum += w * a;
    total_weight += w;
  }
  if (total_weight == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return weighted_sum / total_weight;
}

namespace {

template <typename T>
OrderConsistencyCounts count_order_agreement(std::span<const T> reference,
                                             std::span<const T> other) {
  const std::size_t n = std::min(reference.size(), other.size());
  // Counted in half-units so ties in `other` stay integral.
  std::uint64_t half_agree = 0;
  std::uint64_t pairs = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      // Written with < only, so a NaN orders nothing rather than
      // counting as a strict order.
      const bool ref_lt = reference[i] < reference[j];
      const bool ref_gt = reference[j] < reference[i];
      if (!ref_lt && !ref_gt) continue;
      ++pairs;
      const bool oth_lt = other[i] < other[j];
      const bool oth_gt = other[j] < other[i];
      if (!oth_lt && !oth_gt) {
        half_agree += 1;
      } else if (ref_lt == oth_lt) {
        half_agree += 2;
      }
    }
  }
  return {static_cast<double>(half_agree) / 2.0, pairs};
}

}  // namespace

OrderConsistencyCounts order_consistency_counts(std::span<const float> reference,
                                                std::span<const float> other) {
  return count_order_agreement(reference, other);
}

OrderConsistencyCounts order_consistency_counts(std::span<const double> reference,
                                                std::span<const double> other) {
  return count_order_agreement(reference, other);
}

double order_consistency(std::span<const float> reference,
                         std::span<const float> other) {
  const OrderConsistencyCounts c = order_consistency_counts(reference, other);
  if (c.pairs == 0) return std::numeric_limits<double>::quiet_NaN();
  return c.agreeing / static_cast<double>(c.pairs);
}

}  // namespace funnel::metrics
