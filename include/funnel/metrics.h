// Ranking and classification metrics, used by `funnel eval` and the tests.
//
// Conventions:
//  - A judgment maps a doc id to an integer grade; grade > 0 means relevant.
//  - nDCG uses exponential gain 2^grade - 1 and discount log2(rank + 1), rank
//    from 1 (Burges et al. 2005; the shared reference figures use it). The
//    ideal DCG is computed from all judged grades of the query, not only the
//    retrieved ones, as trec_eval's ndcg_cut does. trec_eval's default gain
//    is the grade itself (linear): on binary judgments the two agree, on
//    graded ones they differ. A query with no relevant doc has nDCG 0.
//  - MAP, MRR, Recall@k and P@k follow trec_eval.
//  - Ranked lists are best-first. Duplicate ids in a ranked list are an
//    invariant violation by the caller (not checked).
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <unordered_map>

namespace funnel::metrics {

// doc id -> grade (0..3 in the synthetic world; binary in MED/CISI).
using Judgments = std::unordered_map<std::string, int>;

inline constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();

// nDCG@k of `ranked` (best first) against `judged`.
double ndcg_at_k(std::span<const std::string> ranked, const Judgments& judged,
                 std::size_t k);

// Average precision of the first k of `ranked`, divided by the number of
// relevant docs in `judged` (so MAP@1000 with k = 1000). 0 if none relevant.
double average_precision(std::span<const std::string> ranked,
                         const Judgments& judged, std::size_t k = kAll);

// 1 / rank of the first relevant doc within the first k; 0 if none.
double reciprocal_rank(std::span<const std::string> ranked,
                       const Judgments& judged, std::size_t k = kAll);

// Share of the relevant docs of `judged` found in the first k of `ranked`.
// 0 if the query has no relevant doc.
double recall_at_k(std::span<const std::string> ranked, const Judgments& judged,
                   std::size_t k);

// Relevant docs among the first k of `ranked`, divided by k (trec_eval's P@k:
// the divisor stays k even when fewer than k docs were retrieved).
double precision_at_k(std::span<const std::string> ranked,
                      const Judgments& judged, std::size_t k);

// Area under the ROC curve: the probability that a random positive
// (label > 0) scores above a random negative (label <= 0), ties counting
// half. scores and labels have the same length n. Returns NaN when either
// class is empty. O(n log n).
double auc(std::span<const float> scores, std::span<const float> labels);

// Group AUC: the AUC of each group (e.g. query or request), averaged with
// weights = number of items (impressions) in the group. Groups with only one
// class are skipped. groups[i] is the group of item i; items of a group need
// not be contiguous. Returns NaN if every group was skipped.
double gauc(std::span<const float> scores, std::span<const float> labels,
            std::span<const std::uint64_t> groups);

// The counts behind order_consistency, so that several lists can be pooled
// (sum the counts, then divide). Over the pairs (i, j) of the same n items:
// `pairs` is the number that `reference` orders strictly, `agreeing` the
// number of those that `other` orders the same way, a tie in `other` counting
// 0.5. A NaN score orders nothing (its pairs count as ties). reference and
// other have the same length n. O(n^2).
struct OrderConsistencyCounts {
  double agreeing = 0;
  std::uint64_t pairs = 0;
};
OrderConsistencyCounts order_consistency_counts(std::span<const float> reference,
                                                std::span<const float> other);
// The same on double scores (no rounding to float, which could add ties).
OrderConsistencyCounts order_consistency_counts(std::span<const double> reference,
                                                std::span<const double> other);

// Order consistency of `other` with `reference` over the same n items: of all
// pairs (i, j) that `reference` orders strictly, the share that `other` orders
// the same way; a tie in `other` counts half (agreeing / pairs of
// order_consistency_counts). NaN if `reference` orders no pair strictly.
double order_consistency(std::span<const float> reference,
                         std::span<const float> other);

}  // namespace funnel::metrics
