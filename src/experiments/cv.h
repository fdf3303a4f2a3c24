// `funnel experiment cv`: k-fold cross-validation of the trained cascade on
// a labels-only collection (BEIR: no logs, one qrels file), next to BM25
// alone on the same queries. See cv.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "funnel/data.h"

#include "funnel/train.h"

namespace funnel::experiments {

struct CvOptions {
  std::string data, out;
  int folds = 5;
  std::uint64_t seed = 1;
  std::size_t depth = 1000, keep = 100;  // BM25 candidates; what pre-rank keeps (rank keeps them all)
  bool pseudo_queries = true;            // the pre-ranker also learns from docs' titles / first sentences
  // The ranker's epoch and BM25 fusion weight are chosen on the pooled dev
  // lists of this many inner folds of the training queries (each inner
  // ranker trained on the others), then a ranker is trained on all of them.
  // 0 or 1: chosen on one dev split (a fifth of the training queries).
  int inner_folds = 4;
  // At most this many judged queries take part (0: all): evenly spaced in
  // query-id order, the same sample for every seed; for collections whose
  // judged queries do not all fit the time (qbqtc: 17,094).
  std::size_t max_queries = 0;
  bool force = false, json = false, verbose = false, keep_models = false;
  train::PrerankTrainOptions prerank;    // seed and cascade depth/keep are set per fold
  train::RankTrainOptions rank;          // seed is set per fold
};

// The judged queries of a BEIR folder: every query of queries.jsonl with at
// least one relevant doc (grade > 0) in any of qrels/{train,dev,test}.tsv,
// sorted by id; with max_queries > 0 and more of them, max_queries evenly
// spaced ones (the same sample for every seed). What `funnel experiment cv`
// and `funnel experiment relevance` split into folds. Throws funnel::Error.
struct JudgedQueries {
  Dataset ds;
  Qrels judged;                  // every qrels file's judgments, merged
  std::vector<std::string> ids;  // the judged queries taking part, sorted by id
};
JudgedQueries read_judged_queries(const std::string& data, std::size_t max_queries,
                                  const std::function<void(const std::string&)>& log);

// `ids` shuffled by `seed` (Fisher-Yates): fold f of K holds the entries at
// positions f, f + K, f + 2K, ... The one fold split of the experiments.
std::vector<std::string> shuffle_for_folds(std::vector<std::string> ids, std::uint64_t seed);

// The defaults `funnel experiment cv` starts from: tiny models and short
// runs for a few dozen judged queries; the ranker on cross features only (a
// text tower learnt from a few dozen queries overfits: on CISI it lost to
// BM25), trained long enough for the inner folds to pick the epoch.
CvOptions default_cv_options();

// Writes OUT/cv.md and OUT/cv.json (and each fold's data and models under
// OUT/fold-N/), prints the table (or the JSON). Throws funnel::Error.
void run_cv(const CvOptions& options);

}  // namespace funnel::experiments
