// Diverse selection with a determinantal point process (DPP): the re-rank
// stage's answer to "the top of the list is ten near-duplicates".
//
// The kernel over n candidates is L = diag(r) S diag(r):
//
//   r_i  = exp(alpha * s_i) * kind_boost[kind_i]      (relevance)
//   s_i  = (score_i - min score) / (max - min)         (0 for all when max == min)
//   alpha = theta / (2 (1 - theta))
//   S_ij = <u_i, u_j> + kind_pair_bias[kind_i][kind_j] (i != j), u_i = v_i / |v_i|
//   S_ii = 1 + jitter
//
// so that log det L_Y = theta / (1 - theta) * sum_{i in Y} s_i + log det S_Y
// (+ the boosts): theta trades the scores against the volume the picks span.
// A zero vector u_i = 0 is similar to nothing (S_ij = its bias only).
//
// dpp_select is the fast greedy MAP inference of Chen, Zhang and Zhou, "Fast
// Greedy MAP Inference for Determinantal Point Process to Improve
// Recommendation Diversity", NeurIPS 2018 (https://arxiv.org/abs/1709.05135):
// each step picks the item with the largest marginal gain
// d_i^2 = det L_{Y+i} / det L_Y and updates every remaining item's gain by one
// more row of an incremental Cholesky factor, in O(M (dim + t)) at step t for
// M candidates (O(k M (dim + k)) for k picks), never forming the M x M kernel.
// The factorisation runs on S and adds 2 log r_i to the log gain, which is the
// paper's algorithm on L scaled by diag(r), without overflow when theta is
// near 1. See docs/rerank.md.
//
// The functions only read their arguments and keep their scratch per call
// (dpp_select: per thread), so concurrent calls are safe. They throw
// funnel::Error for bad input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace funnel::rerank {

// Per-call settings of the DPP.
struct DppOptions {
  // Relevance / diversity trade-off in [0, 1]: alpha = theta / (2 (1 - theta)),
  // the paper's relevance-diversity trade-off. theta = 1: pure score order, no DPP (by_dpp = 0);
  // theta = 0: pure diversity (r_i = the kind boost only).
  double theta = 0.5;
  // Sliding-window variant (the paper's section 5): each pick is diverse with
  // respect to the last window - 1 picks only, so every `window` consecutive
  // positions of the DPP's part of the list are diverse, and an item similar
  // to one `window` positions back may appear again. 0: the whole list.
  // 1: no diversity (relevance order r_i). Cost: once the window is full, the
  // Cholesky state of all M items is rebuilt from the cached kernel rows of
  // the window at every pick, O(window^2 M) per pick.
  std::size_t window = 0;
  // The DPP stops when no remaining item has a marginal gain d^2 > 0 and
  // >= epsilon (d^2 in units of L, i.e. r_i^2 times the gain in S); the rest of
  // the selection is filled in score order. >= 0.
  double epsilon = 1e-6;
  // Added to the diagonal of S (S_ii = 1 + jitter): keeps S full rank when
  // dim < select or items repeat, so the DPP does not stop early. >= 0.
  double jitter = 1e-3;
  // Use the portable loops instead of the fastest this CPU supports (AVX2);
  // for tests and benchmarks. The picks may differ only where two gains tie
  // to within float rounding.
  bool portable = false;
};

// The candidates of one call, in any order (ties go to the lower index).
// Every span is borrowed for the duration of the call.
struct DppItems {
  std::span<const float> scores;   // n relevance scores, any scale, finite
  std::span<const float> vectors;  // n x dim, row-major, finite; normalised to unit length inside
  std::size_t dim = 0;             // >= 1
  // Optional: empty, or n entries < n_kinds: the kind of each item (its category, say).
  std::span<const std::uint32_t> kinds;
  // Optional: empty, or n_kinds finite values > 0: multiplies r_i of the items of
  // that kind (a relevance boost). Needs kinds.
  std::span<const float> kind_boost;
  // Optional: empty, or n_kinds x n_kinds finite values, symmetric: added to S_ij
  // for i != j by the pair of kinds; > 0 makes two kinds less likely together.
  // A large bias can make S indefinite; the DPP then stops where a gain is <= 0.
  // Needs kinds.
  std::span<const float> kind_pair_bias;
  std::size_t n_kinds = 0;
};

struct DppResult {
  std::vector<std::size_t> picks;  // min(select, n) distinct indices into the items, in list order
  std::size_t by_dpp = 0;          // picks[0, by_dpp) by the DPP; the rest filled in score order
};

// The fast greedy: picks min(select, n) items. At each step the item with the
// largest gain 2 log r_i + log d_i^2 (d_i^2 in S) wins; near-ties go to the
// lower index: the pick is the first item whose gain r_i^2 d_i^2 is within a
// factor 1 + 1e-9 of the largest, so both implementations agree whatever
// their rounding.
// When the DPP stops (DppOptions::epsilon) or theta = 1, the remaining places
// are filled by score, higher first, ties by lower index.
// Throws funnel::Error for inconsistent sizes, non-finite scores or vectors,
// theta outside [0, 1], a negative or non-finite epsilon or jitter, kinds out
// of range, a boost <= 0, an asymmetric bias, or a Cholesky factor
// (min(select, window) x n doubles) over 1 GiB. Memory: O(n dim + select n),
// kept per thread across calls (up to 16 MiB) so that a serving thread does
// not page-fault its buffers in on every request.
DppResult dpp_select(const DppItems& items, std::size_t select, const DppOptions& options);

// The straightforward greedy, for tests and the benchmark: builds the n x n
// kernel S, and at each step, for every remaining item i, factorises
// S_{W+i} from scratch (Cholesky, W = the picks in the window) to get
// log det L_{W+i} - log det L_W = 2 log r_i + log det S_{W+i} - log det S_W.
// Same rule, same tie-break, same stop as dpp_select, so the same picks
// (up to rounding of near-ties); O(M t^3) per step. Throws as dpp_select,
// and when the n x n kernel is over 1 GiB.
DppResult dpp_select_naive(const DppItems& items, std::size_t select, const DppOptions& options);

// log det L_Y for the items `subset` (distinct indices < n, any order):
// 2 sum log r_i + log det S_Y; 0 for the empty set, -infinity when S_Y is not
// positive definite. For tests and exhaustive search. Throws as dpp_select,
// and for theta = 1 (no finite kernel), an index >= n or a repeated index.
double dpp_log_det(const DppItems& items, std::span<const std::size_t> subset, const DppOptions& options);

}  // namespace funnel::rerank
