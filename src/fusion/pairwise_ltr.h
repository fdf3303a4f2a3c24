// A learned linear fusion: per-feature weights fitted pairwise on logged
// outcomes (learning to rank). Within each request (group), every pair of
// candidates whose logged outcome differs is a training pair, for each
// objective (click, watch fraction, like, ...); the loss is RankNet's
// logistic pair loss (Burges et al., "Learning to Rank using Gradient
// Descent", ICML 2005) with a weight per objective:
//
//   L(w) = sum_o lambda_o / P_o * sum_{(i, j): y_o(i) > y_o(j), same group}
//                                   log(1 + exp(-(w . (z_i - z_j))))
//          + l2 * |w|^2
//
// P_o the number of pairs of objective o, z the standardised features
// ((x - mean) / scale). Minimised by L-BFGS (fusion/lbfgs.h): the problem is
// convex, and deterministic to the bit for the same input.
// docs/fusion-models.md places it among the fusion models.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace funnel::fusion {

struct LtrOptions {
  // lambda_o per objective, finite and >= 0; 0 ignores the objective. One
  // per LtrData::objectives; at least one > 0.
  std::vector<double> objective_weights;
  double l2 = 1e-3;  // penalty on the standardised weights, finite and >= 0
  // The most L-BFGS iterations (each costs one pass over the pairs, more
  // when the line search backtracks), >= 1. It usually stops earlier, when
  // the loss no longer falls.
  int epochs = 200;
  // The step along the negative gradient in the first iteration, > 0
  // (later steps come from L-BFGS's curvature estimate).
  double learning_rate = 0.5;
};

// Training rows, borrowed for the call.
struct LtrData {
  std::span<const float> x;  // rows x cols features, row-major, finite
  std::size_t rows = 0, cols = 0;
  // rows: the group (request) of each row; the rows of one group are
  // contiguous. Pairs are formed within a group only.
  std::span<const std::uint32_t> groups;
  // rows x objectives, row-major, finite: the logged outcome of each
  // objective (click 0/1, watch fraction, like 0/1, ...); higher is better.
  std::span<const float> outcomes;
  std::size_t objectives = 0;
};

// The fitted weights, for raw (unstandardised) features: score(x) = sum_k
// weights[k] * x[k]. Training works on standardised features z_k = (x_k -
// mean_k) / scale_k and folds them in: weights[k] = v_k / scale_k for the
// standardised weights v. The dropped constant, -sum_k v_k mean_k / scale_k,
// is the same for every candidate, so no order within a request changes.
// mean and scale come from the rows that appear in at least one training
// pair (a row in none adds nothing to the loss); a column constant over
// those rows has scale 0 and weight 0.
struct LtrModel {
  std::vector<double> weights;  // per feature
  std::vector<double> mean, scale;  // per feature: the standardisation used in training
};

// Fits the weights. progress(iteration, loss) after each L-BFGS iteration
// when given. Throws funnel::Error naming the field on bad input: sizes,
// non-finite values, a group whose rows are not contiguous, options that do
// not fit (objective_weights size, all zero, negative), or no training pair
// at all for the weighted objectives.
LtrModel train_pairwise_ltr(const LtrData& data, const LtrOptions& options,
                            const std::function<void(int iteration, double loss)>& progress = {});

// sum_k weights[k] * x_row[k]. Throws funnel::Error when x_row.size() !=
// model.weights.size().
double ltr_score(const LtrModel& model, std::span<const float> x_row);

// The model as a JSON object, for a file that holds it with other settings:
//   {"format": "funnel-pairwise-ltr", "version": 1,
//    "weights": [...], "mean": [...], "scale": [...]}
// (one number per feature each). Doubles round-trip exactly.
nlohmann::json ltr_to_json(const LtrModel& model);
// Reads it back, strictly: every field present, no other field, arrays of
// finite numbers of one length >= 1, scale >= 0. Throws funnel::Error
// naming `where` (e.g. "fusion.json: field 'ltr'") and the field.
LtrModel ltr_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace funnel::fusion
