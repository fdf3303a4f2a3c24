// The pre-rank trainer's cascade dev check, the torch-free part: given the
// student's scores of each dev query's candidates and their BM25 scores, the
// Recall@keep of the fused order (funnel/fusion.h, the same formula and
// tie-break as the serving stage) and the fusion weight that maximises it.
#pragma once

#include <cstdint>
#include <unordered_set>
#include <vector>

namespace funnel::train {

// One dev query's candidates.
struct CheckList {
  std::vector<std::uint32_t> rows;
  std::vector<float> own;     // the student's scores
  std::vector<float> recall;  // BM25 scores (0: not found by BM25)
  std::unordered_set<std::uint32_t> relevant;  // relevant rows
  std::size_t n_relevant = 0;                  // all relevant docs of the query (the recall denominator)
};

// The fused score of each candidate at weight w: what the serving stage
// computes for the same candidates.
std::vector<float> fused_scores(const CheckList& list, double w);

// Mean over lists of the share of relevant docs among the `keep` best by
// fused_scores(list, w).
double recall_at_keep(const std::vector<CheckList>& lists, double w, std::size_t keep);

// The weights the check tries, ascending, 0 (the student alone) first.
const std::vector<double>& prerank_fusion_grid();

// The weight of prerank_fusion_grid() with the best recall_at_keep (the
// smallest on ties) and that recall.
struct FusionFit {
  double weight = 0, recall = 0;
};
FusionFit fit_fusion_weight(const std::vector<CheckList>& lists, std::size_t keep);

}  // namespace funnel::train
