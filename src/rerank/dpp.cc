// The fast greedy MAP inference of the DPP (dpp.h): Chen, Zhang and Zhou,
// NeurIPS 2018, Algorithm 1, and its sliding window (section 5).
#include "rerank/dpp.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "funnel/error.h"
#include "rerank/dpp_kernel.h"

namespace funnel::rerank {
namespace {

using detail::DppKernel;
using detail::kColumnLanes;
constexpr double kMinusInf = -std::numeric_limits<double>::infinity();
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// Below this, a gain relative to the best relevance may have lost digits to
// underflow (theta near 1 spreads the relevances over hundreds of orders of
// magnitude): the choice is made again in the log domain.
constexpr double kTinyGain = 1e-280;

// A call's buffers, kept by each thread across calls: re-rank runs once per
// request, and fresh megabyte buffers would cost page faults every time.
// Released after a call that needed more than kKeepBytes.
struct Workspace {
  std::vector<float> unit, rows;
  std::vector<double> c, d2, weight, cj;
  std::vector<char> taken;

  std::size_t bytes() const {
    return (unit.capacity() + rows.capacity()) * sizeof(float) +
           (c.capacity() + d2.capacity() + weight.capacity() + cj.capacity()) * sizeof(double) + taken.capacity();
  }
};
constexpr std::size_t kKeepBytes = std::size_t{16} << 20;
// The Cholesky factor's limit: a bad request must not exhaust the memory.
constexpr double kMaxFactorBytes = 1u << 30;

// The incremental Cholesky state of every candidate against the picks that
// the next pick must be diverse with (all of them, or the window's).
class GreedyState {
 public:
  GreedyState(const DppKernel& kernel, std::size_t rows, Workspace& ws)
      : kernel_(kernel), loops_(kernel.loops()), ws_(ws), m_(kernel.columns()), cap_(std::max<std::size_t>(rows, 1)) {
    const std::size_t n = kernel.size();
    ws.c.resize(cap_ * m_);  // every entry is written before it is read
    ws.d2.assign(m_, 0.0);
    ws.weight.assign(m_, 0.0);
    ws.cj.resize(cap_);
    ws.taken.assign(n, 0);
    double top = kMinusInf;
    for (std::size_t i = 0; i < n; ++i) top = std::max(top, kernel.log_relevance(i));
    log_top2_ = 2 * top;
    // r_i^2 / r_max^2, so that the gains compared stay in [0, 1 + jitter].
    for (std::size_t i = 0; i < n; ++i) ws.weight[i] = std::exp(2 * (kernel.log_relevance(i) - top));
    reset();
  }

  // Forgets every row of the factor: all gains back to S_ii.
  void reset() {
    std::fill(ws_.d2.begin(), ws_.d2.begin() + static_cast<std::ptrdiff_t>(kernel_.size()), kernel_.diagonal());
    rows_ = 0;
  }

  // The next pick by the rule of dpp.h and its log gain 2 log r_j + log d_j^2;
  // kNone when no remaining item has a gain > 0.
  std::pair<std::size_t, double> best() const {
    double top = 0;
    const std::size_t arg = loops_.argmax(ws_.weight.data(), ws_.d2.data(), m_, &top);
    if (top >= kTinyGain) return {arg, log_top2_ + std::log(top)};
    // Rare: redo the choice in the log domain, where nothing underflows.
    double log_top = kMinusInf;
    for (std::size_t i = 0; i < kernel_.size(); ++i)
      if (!ws_.taken[i] && ws_.d2[i] > 0) log_top = std::max(log_top, log_gain(i));
    if (log_top == kMinusInf) return {kNone, kMinusInf};
    const double log_tie = std::log(detail::kTieFactor);
    for (std::size_t i = 0; i < kernel_.size(); ++i)
      if (!ws_.taken[i] && ws_.d2[i] > 0 && log_gain(i) + log_tie >= log_top) return {i, log_top};
    return {kNone, kMinusInf};
  }

  void take(std::size_t j) {
    ws_.weight[j] = 0;
    ws_.taken[j] = 1;
  }

  // Adds item j (its kernel row s) to the factor: one Cholesky step over all
  // columns. False when j's gain is not > 0 (S is indefinite there).
  bool add(std::size_t j, const float* s) {
    const double d2 = ws_.d2[j];
    if (!(d2 > 0)) return false;
    const double* column = ws_.c.data() + (j / kColumnLanes) * cap_ * kColumnLanes + j % kColumnLanes;
    for (std::size_t k = 0; k < rows_; ++k) ws_.cj[k] = column[k * kColumnLanes];
    loops_.cholesky_step(ws_.c.data(), cap_, m_, rows_, ws_.cj.data(), s, 1 / std::sqrt(d2), ws_.d2.data());
    ++rows_;
    return true;
  }

  std::size_t rows() const { return rows_; }

 private:
  double log_gain(std::size_t i) const { return 2 * kernel_.log_relevance(i) + std::log(ws_.d2[i]); }

  const DppKernel& kernel_;
  const detail::DppLoops& loops_;
  // ws_.c: the factor, cap_ rows x m_ columns in panels (dpp_loops.h);
  // ws_.d2: m_ gains in S; ws_.weight: m_ values r_i^2 / r_max^2, 0 once
  // taken and for the padding.
  Workspace& ws_;
  std::size_t m_, cap_, rows_ = 0;
  double log_top2_ = 0;
};

// The DPP's part of the list: appends picks until `select`, the stop rule or
// an indefinite window.
void run_greedy(const DppKernel& kernel, std::size_t select, const DppOptions& options, Workspace& ws,
                std::vector<std::size_t>& picks) {
  const std::size_t m = kernel.columns();
  // The window covers the last `span` picks; it slides only when more picks
  // than that precede the last one.
  const std::size_t span = options.window == 0 ? select : options.window - 1;
  const bool slides = span + 1 < select;
  GreedyState state(kernel, std::min(span, select), ws);
  // Sliding: the kernel rows of the last `span` picks, in a ring.
  ws.rows.resize((slides ? std::max<std::size_t>(span, 1) : 1) * m);
  const double log_epsilon = options.epsilon > 0 ? std::log(options.epsilon) : kMinusInf;

  for (std::size_t step = 0; step < select; ++step) {
    const auto [j, log_gain] = state.best();
    if (j == kNone || log_gain < log_epsilon) return;
    picks.push_back(j);
    state.take(j);
    if (step + 1 == select) return;
    if (!slides) {
      kernel.row(j, ws.rows.data());
      if (!state.add(j, ws.rows.data())) return;
      continue;
    }
    if (span == 0) {  // window 1: relevance order
      state.reset();
      continue;
    }
    float* row = ws.rows.data() + (step % span) * m;
    kernel.row(j, row);
    if (state.rows() < span) {
      if (!state.add(j, row)) return;
      continue;
    }
    // The window is full: rebuild the factor from the window's cached rows,
    // oldest first, O(span^2 m).
    state.reset();
    for (std::size_t p = step + 1 - span; p <= step; ++p)
      if (!state.add(picks[p], ws.rows.data() + (p % span) * m)) return;
  }
}

}  // namespace

DppResult dpp_select(const DppItems& items, std::size_t select, const DppOptions& options) {
  thread_local Workspace ws;
  const DppKernel kernel(items, options, "dpp_select", ws.unit);
  select = std::min(select, kernel.size());
  const std::size_t rows = options.window == 0 ? select : std::min(select, options.window);
  if (static_cast<double>(rows) * static_cast<double>(kernel.columns()) * sizeof(double) > kMaxFactorBytes)
    throw Error("dpp_select: select " + std::to_string(select) + " of " + std::to_string(kernel.size()) +
                " candidates needs a Cholesky factor of " + std::to_string(rows) + " x " +
                std::to_string(kernel.columns()) + " doubles, over the limit of 1 GiB: select fewer, or use a window");
  DppResult result;
  result.picks.reserve(select);
  if (!kernel.score_order_only() && select > 0) {
    run_greedy(kernel, select, options, ws, result.picks);
    result.by_dpp = result.picks.size();
  }
  ws.taken.assign(kernel.size(), 0);
  for (auto i : result.picks) ws.taken[i] = 1;
  detail::fill_by_score(items.scores, select, ws.taken, result.picks);
  if (ws.bytes() > kKeepBytes) ws = Workspace();
  return result;
}

}  // namespace funnel::rerank
