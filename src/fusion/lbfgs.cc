#include "fusion/lbfgs.h"

#include <algorithm>
#include <cmath>
#include <deque>

namespace funnel::fusion::detail {

namespace {

double dot(std::span<const double> a, std::span<const double> b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double max_abs(std::span<const double> a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

struct Pair {
  std::vector<double> s, y;  // step and gradient change
  double rho = 0;            // 1 / (y . s)
};

// d = -H g by the two-loop recursion, H the L-BFGS inverse-Hessian estimate
// scaled by gamma = s.y / y.y of the newest pair.
std::vector<double> direction(const std::deque<Pair>& memory, const std::vector<double>& g) {
  std::vector<double> q = g;
  std::vector<double> alpha(memory.size());
  for (std::size_t k = memory.size(); k-- > 0;) {
    alpha[k] = memory[k].rho * dot(memory[k].s, q);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] -= alpha[k] * memory[k].y[i];
  }
  const Pair& last = memory.back();
  const double gamma = dot(last.s, last.y) / dot(last.y, last.y);
  for (double& v : q) v *= gamma;
  for (std::size_t k = 0; k < memory.size(); ++k) {
    const double beta = memory[k].rho * dot(memory[k].y, q);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] += (alpha[k] - beta) * memory[k].s[i];
  }
  for (double& v : q) v = -v;
  return q;
}

}  // namespace

LbfgsResult minimize_lbfgs(const Objective& f, std::vector<double>& x, const LbfgsOptions& options,
                           const std::function<void(int, double)>& progress) {
  const std::size_t n = x.size();
  std::vector<double> g(n), g_new(n), x_new(n);
  LbfgsResult r;
  r.value = f(x, g);
  std::deque<Pair> memory;
  for (int it = 1; it <= options.max_iterations; ++it) {
    if (max_abs(g) <= options.gradient_tolerance) break;
    std::vector<double> d;
    double step = 1;
    if (!memory.empty()) d = direction(memory, g);
    if (memory.empty() || dot(d, g) >= 0) {  // no curvature yet, or a direction that does not descend
      memory.clear();
      d = g;
      for (double& v : d) v = -v;
      step = options.first_step;
    }
    const double slope = dot(d, g);
    double value = 0;
    bool lowered = false;
    for (int halvings = 0; halvings < 50; ++halvings, step *= 0.5) {
      for (std::size_t i = 0; i < n; ++i) x_new[i] = x[i] + step * d[i];
      value = f(x_new, g_new);
      if (std::isfinite(value) && value <= r.value + 1e-4 * step * slope) {
        lowered = true;
        break;
      }
    }
    if (!lowered) break;  // f cannot be lowered along d at double precision
    Pair p;
    p.s.resize(n);
    p.y.resize(n);
    for (std::size_t i = 0; i < n; ++i) p.s[i] = x_new[i] - x[i], p.y[i] = g_new[i] - g[i];
    const double sy = dot(p.s, p.y);
    // Keep a pair only with positive curvature (always so for a convex f,
    // up to rounding), so that H stays positive definite.
    if (sy > 1e-300) {
      p.rho = 1 / sy;
      memory.push_back(std::move(p));
      if (static_cast<int>(memory.size()) > options.memory) memory.pop_front();
    }
    const double decrease = r.value - value;
    x.swap(x_new);
    g.swap(g_new);
    r.value = value;
    r.iterations = it;
    if (progress) progress(it, value);
    if (decrease <= options.relative_decrease * std::max(1.0, std::abs(value))) break;
  }
  return r;
}

}  // namespace funnel::fusion::detail
