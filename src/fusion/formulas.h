// The multi-objective fusion formulas: how a fusion stage turns each
// candidate's inputs (its incoming score and the ranker's pXtr) into one
// score. Pure functions over an input matrix, called by the fusion stages
// (fusion_stage.cc), the tuner and the benchmark alike.
//
// `x` is n x m, row-major: x[i * m + j] is input j of candidate i; `w` has
// m weights; `out` gets n scores (higher is better).
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace funnel::fusion {

// out_i = sum_j w_j x_ij.
void weighted_sum(std::span<const float> x, std::size_t m, std::span<const double> w, std::span<double> out);

// The product of powers prod_j (a_j + x_ij)^w_j, as its logarithm
// out_i = sum_j w_j log(a_j + x_ij) (the same order, and no overflow). A
// factor a_j + x_ij below `floor` counts as `floor`.
void product_of_powers(std::span<const float> x, std::size_t m, std::span<const double> w,
                       std::span<const double> a, std::span<double> out, double floor = 1e-6);

// Ensemble sort: each input is replaced by its rank among the n candidates
// (0 = the highest value; equal values share the best of their ranks), the
// rank mapped to a score, and the scores summed with the weights:
//   kReciprocal: 1 / (rank + k)        kNormalised: 1 - rank / n
// Only the order within each input matters: the result is the same under
// any strictly increasing rescaling of an input.
enum class RankTransform { kReciprocal, kNormalised };
RankTransform parse_rank_transform(const std::string& s, const std::string& where);
void ensemble_sort(std::span<const float> x, std::size_t m, std::span<const double> w, RankTransform transform,
                   double k, std::span<double> out);

}  // namespace funnel::fusion
