// The straightforward greedy and log det of the DPP (dpp.h): the reference
// that the fast greedy is tested and timed against.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "funnel/error.h"
#include "rerank/dpp.h"
#include "rerank/dpp_kernel.h"

namespace funnel::rerank {
namespace {

using detail::DppKernel;
constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

// log det of the k x k symmetric matrix a (row-major, overwritten by its
// Cholesky factor); -infinity when a pivot is <= 0.
double cholesky_log_det(std::vector<double>& a, std::size_t k) {
  double log_det = 0;
  for (std::size_t j = 0; j < k; ++j) {
    for (std::size_t i = j; i < k; ++i) {
      double x = a[i * k + j];
      for (std::size_t p = 0; p < j; ++p) x -= a[i * k + p] * a[j * k + p];
      if (i == j) {
        if (!(x > 0)) return kMinusInf;
        log_det += std::log(x);
        a[j * k + j] = std::sqrt(x);
      } else {
        a[i * k + j] = x / a[j * k + j];
      }
    }
  }
  return log_det;
}

// log det S_Y, Y = the items `set` in that order, S read from the full
// kernel (n rows of `columns` floats).
double log_det_s(const std::vector<float>& s, std::size_t columns, const std::vector<std::size_t>& set,
                 std::vector<double>& scratch) {
  const std::size_t k = set.size();
  scratch.assign(k * k, 0.0);
  for (std::size_t a = 0; a < k; ++a)
    for (std::size_t b = 0; b < k; ++b) scratch[a * k + b] = s[set[a] * columns + set[b]];
  return cholesky_log_det(scratch, k);
}

}  // namespace

DppResult dpp_select_naive(const DppItems& items, std::size_t select, const DppOptions& options) {
  std::vector<float> unit;
  const DppKernel kernel(items, options, "dpp_select_naive", unit);
  const std::size_t n = kernel.size(), columns = kernel.columns();
  select = std::min(select, n);
  DppResult result;
  std::vector<char> taken(n, 0);
  if (!kernel.score_order_only() && select > 0) {
    if (static_cast<double>(n) * static_cast<double>(columns) * sizeof(float) > 1u << 30)
      throw Error("dpp_select_naive: the kernel of " + std::to_string(n) + " candidates is over the limit of 1 GiB");
    std::vector<float> s(n * columns);
    for (std::size_t j = 0; j < n; ++j) kernel.row(j, s.data() + j * columns);
    const double log_epsilon = options.epsilon > 0 ? std::log(options.epsilon) : kMinusInf;
    const double log_tie = std::log(detail::kTieFactor);
    std::vector<double> scratch, gains;
    std::vector<std::size_t> window, set;
    while (result.picks.size() < select) {
      // The picks this one must be diverse with: all, or the last window - 1.
      const std::size_t t = result.picks.size();
      const std::size_t span = options.window == 0 ? t : std::min(t, options.window - 1);
      window.assign(result.picks.end() - static_cast<std::ptrdiff_t>(span), result.picks.end());
      const double log_det_window = log_det_s(s, columns, window, scratch);
      if (log_det_window == kMinusInf) break;
      // Every remaining item's gain; the pick is the first within the tie
      // factor of the largest (dpp_loops.h).
      gains.assign(n, kMinusInf);
      double top = kMinusInf;
      for (std::size_t i = 0; i < n; ++i) {
        if (taken[i]) continue;
        set = window;
        set.push_back(i);
        const double log_det = log_det_s(s, columns, set, scratch);
        if (log_det == kMinusInf) continue;
        gains[i] = 2 * kernel.log_relevance(i) + (log_det - log_det_window);
        top = std::max(top, gains[i]);
      }
      if (top == kMinusInf || top < log_epsilon) break;
      std::size_t best = 0;
      while (gains[best] == kMinusInf || gains[best] + log_tie < top) ++best;
      taken[best] = 1;
      result.picks.push_back(best);
    }
    result.by_dpp = result.picks.size();
  }
  detail::fill_by_score(items.scores, select, taken, result.picks);
  return result;
}

double dpp_log_det(const DppItems& items, std::span<const std::size_t> subset, const DppOptions& options) {
  std::vector<float> unit;
  const DppKernel kernel(items, options, "dpp_log_det", unit);
  if (kernel.score_order_only()) throw Error("dpp_log_det: options.theta = 1 has no finite kernel (alpha is infinite)");
  const std::size_t n = kernel.size(), k = subset.size();
  std::vector<char> seen(n, 0);
  for (std::size_t a = 0; a < k; ++a) {
    if (subset[a] >= n)
      throw Error("dpp_log_det: subset[" + std::to_string(a) + "] = " + std::to_string(subset[a]) +
                  ": expected an item index < " + std::to_string(n));
    if (seen[subset[a]]) throw Error("dpp_log_det: subset repeats item " + std::to_string(subset[a]));
    seen[subset[a]] = 1;
  }
  std::vector<float> row(kernel.columns());
  std::vector<double> a(k * k);
  double log_relevance = 0;
  for (std::size_t x = 0; x < k; ++x) {
    kernel.row(subset[x], row.data());
    for (std::size_t y = 0; y < k; ++y) a[x * k + y] = row[subset[y]];
    log_relevance += 2 * kernel.log_relevance(subset[x]);
  }
  const double log_det = cholesky_log_det(a, k);
  return log_det == kMinusInf ? kMinusInf : log_relevance + log_det;
}

}  // namespace funnel::rerank
