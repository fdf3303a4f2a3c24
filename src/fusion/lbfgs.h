// A small deterministic L-BFGS minimiser for smooth convex problems of tens
// of variables (the pairwise LTR fit, fusion/pairwise_ltr.h). Nocedal &
// Wright, "Numerical Optimization" (2nd ed.), algorithms 7.4 (two-loop
// recursion) and 3.1 (backtracking line search with the Armijo condition).
#pragma once

#include <functional>
#include <span>
#include <vector>

namespace funnel::fusion::detail {

// Computes f(x) and writes its gradient into `grad` (same size as x).
using Objective = std::function<double(std::span<const double> x, std::span<double> grad)>;

struct LbfgsOptions {
  int max_iterations = 200;  // iterations (each one or more evaluations), >= 1
  double first_step = 1.0;   // step along -gradient in the first iteration, > 0
  int memory = 10;           // (s, y) pairs kept for the curvature estimate
  double gradient_tolerance = 1e-7;  // stop when max |gradient| <= this
  double relative_decrease = 1e-13;  // stop when an iteration lowers f by <= this * max(1, |f|)
};

struct LbfgsResult {
  double value = 0;    // f at the returned x
  int iterations = 0;  // iterations done
};

// Minimises f from x (in place). progress(iteration, f) after each iteration
// when given. Stops at max_iterations, at a small gradient or decrease, or
// when the line search cannot lower f (x then stays the best point found).
// Deterministic: the same f and start give the same x.
LbfgsResult minimize_lbfgs(const Objective& f, std::vector<double>& x, const LbfgsOptions& options,
                           const std::function<void(int iteration, double value)>& progress = {});

}  // namespace funnel::fusion::detail
