// Validation and preparation of the DPP kernel (dpp_kernel.h).
#include "rerank/dpp_kernel.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "funnel/error.h"

namespace funnel::rerank::detail {
namespace {

std::size_t round_up(std::size_t x, std::size_t to) { return (x + to - 1) / to * to; }

[[noreturn]] void fail(const char* caller, const std::string& what) {
  throw Error(std::string(caller) + ": " + what);
}

void check_options(const DppOptions& o, const char* caller) {
  if (!(o.theta >= 0 && o.theta <= 1))
    fail(caller, "options.theta = " + std::to_string(o.theta) + ": expected a value in [0, 1]");
  if (!(o.epsilon >= 0) || !std::isfinite(o.epsilon))
    fail(caller, "options.epsilon = " + std::to_string(o.epsilon) + ": expected a finite value >= 0");
  if (!(o.jitter >= 0) || !std::isfinite(o.jitter))
    fail(caller, "options.jitter = " + std::to_string(o.jitter) + ": expected a finite value >= 0");
}

void check_kinds(const DppItems& items, std::size_t n, const char* caller) {
  const std::size_t k = items.n_kinds;
  if (items.kinds.empty()) {
    if (!items.kind_boost.empty() || !items.kind_pair_bias.empty())
      fail(caller, "items.kind_boost or items.kind_pair_bias given without items.kinds");
    return;
  }
  if (items.kinds.size() != n)
    fail(caller, "items.kinds has " + std::to_string(items.kinds.size()) + " entries, expected one per score (" +
                     std::to_string(n) + ")");
  for (std::size_t i = 0; i < n; ++i)
    if (items.kinds[i] >= k)
      fail(caller, "items.kinds[" + std::to_string(i) + "] = " + std::to_string(items.kinds[i]) +
                       ": expected a kind < items.n_kinds = " + std::to_string(k));
  if (!items.kind_boost.empty()) {
    if (items.kind_boost.size() != k)
      fail(caller, "items.kind_boost has " + std::to_string(items.kind_boost.size()) +
                       " entries, expected items.n_kinds = " + std::to_string(k));
    for (std::size_t c = 0; c < k; ++c)
      if (!(items.kind_boost[c] > 0) || !std::isfinite(items.kind_boost[c]))
        fail(caller, "items.kind_boost[" + std::to_string(c) + "] = " + std::to_string(items.kind_boost[c]) +
                         ": expected a finite value > 0");
  }
  if (!items.kind_pair_bias.empty()) {
    if (items.kind_pair_bias.size() != k * k)
      fail(caller, "items.kind_pair_bias has " + std::to_string(items.kind_pair_bias.size()) +
                       " entries, expected n_kinds x n_kinds = " + std::to_string(k * k));
    for (std::size_t a = 0; a < k; ++a)
      for (std::size_t b = 0; b < k; ++b) {
        const float x = items.kind_pair_bias[a * k + b];
        if (!std::isfinite(x))
          fail(caller, "items.kind_pair_bias[" + std::to_string(a) + "][" + std::to_string(b) + "] is not finite");
        if (x != items.kind_pair_bias[b * k + a])
          fail(caller, "items.kind_pair_bias is not symmetric: [" + std::to_string(a) + "][" + std::to_string(b) +
                           "] = " + std::to_string(x) + " but [" + std::to_string(b) + "][" + std::to_string(a) +
                           "] = " + std::to_string(items.kind_pair_bias[b * k + a]));
      }
  }
}

}  // namespace

DppKernel::DppKernel(const DppItems& items, const DppOptions& options, const char* caller,
                     std::vector<float>& unit)
    : loops_(options.portable ? &generic_dpp_loops() : &best_dpp_loops()),
      kinds_(items.kinds),
      bias_(items.kind_pair_bias),
      n_kinds_(items.n_kinds) {
  check_options(options, caller);
  n_ = items.scores.size();
  if (items.dim == 0) fail(caller, "items.dim = 0: expected the vectors' dimension, >= 1");
  if (items.vectors.size() != n_ * items.dim)
    fail(caller, "items.vectors has " + std::to_string(items.vectors.size()) + " floats, expected n x dim = " +
                     std::to_string(n_) + " x " + std::to_string(items.dim) + " = " + std::to_string(n_ * items.dim));
  check_kinds(items, n_, caller);
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (std::size_t i = 0; i < n_; ++i) {
    const float s = items.scores[i];
    if (!std::isfinite(s))
      fail(caller, "items.scores[" + std::to_string(i) + "] = " + std::to_string(s) + ": expected a finite score");
    lo = std::min(lo, s);
    hi = std::max(hi, s);
  }
  diagonal_ = static_cast<float>(1.0 + options.jitter);
  score_order_only_ = options.theta == 1;

  // Unit rows, padded with zeros to whole blocks of the loops (a zero
  // vector stays zero); the padding rows are zero too.
  columns_ = round_up(std::max<std::size_t>(n_, 1), kColumnLanes);
  dim_ = round_up(items.dim, kDimLanes);
  unit.resize(columns_ * dim_);
  std::fill(unit.begin() + static_cast<std::ptrdiff_t>(n_ * dim_), unit.end(), 0.0f);
  std::vector<double> norm2(n_);
  loops_->unit_rows(items.vectors.data(), n_, items.dim, unit.data(), dim_, norm2.data());
  for (std::size_t i = 0; i < n_; ++i)
    if (!std::isfinite(norm2[i]))
      fail(caller, "items.vectors row " + std::to_string(i) + " has a value that is not finite");
  unit_ = unit.data();

  log_relevance_.assign(n_, 0.0);
  if (score_order_only_) return;
  const double alpha = options.theta / (2 * (1 - options.theta));
  const double range = static_cast<double>(hi) - static_cast<double>(lo);
  for (std::size_t i = 0; i < n_; ++i) {
    const double s = range > 0 ? (static_cast<double>(items.scores[i]) - lo) / range : 0.0;
    double q = alpha * s;
    if (!items.kind_boost.empty()) q += std::log(static_cast<double>(items.kind_boost[items.kinds[i]]));
    log_relevance_[i] = q;
  }
}

void DppKernel::row(std::size_t j, float* out) const {
  loops_->dots(unit_, columns_, dim_, unit_ + j * dim_, out);
  if (!bias_.empty()) {
    const float* b = bias_.data() + static_cast<std::size_t>(kinds_[j]) * n_kinds_;
    for (std::size_t i = 0; i < n_; ++i) out[i] += b[kinds_[i]];
  }
  out[j] = diagonal_;
}

void fill_by_score(std::span<const float> scores, std::size_t select, std::vector<char>& taken,
                   std::vector<std::size_t>& picks) {
  if (picks.size() >= select) return;
  std::vector<std::size_t> rest;
  rest.reserve(scores.size());
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (!taken[i]) rest.push_back(i);
  const std::size_t need = std::min(select - picks.size(), rest.size());
  const auto better = [&](std::size_t a, std::size_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  };
  std::partial_sort(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(need), rest.end(), better);
  for (std::size_t k = 0; k < need; ++k) {
    taken[rest[k]] = 1;
    picks.push_back(rest[k]);
  }
}

}  // namespace funnel::rerank::detail
