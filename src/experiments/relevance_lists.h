// The per-query material of `funnel experiment relevance` (relevance.cc),
// computed once per collection and shared by every seed and fold: the
// nDCG@10 of each lexical configuration on each judged query, and each
// query's candidate rows with their LambdaMART features and grades.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "experiments/cv.h"
#include "funnel/recall.h"
#include "rank/lexical_ranker.h"

namespace funnel::experiments {

using LogFn = std::function<void(const std::string&)>;

// A lexical configuration: BM25 options (k1, b, title weight; the rest
// funnel's defaults), RM3 pseudo-relevance feedback included (prf_docs > 0).
struct LexConfig {
  Bm25Options bm25;
  std::string key() const;  // e.g. "tw2 k1=1 b=0.5" or "tw2 k1=1 b=0.5 prf=10/20/0.5"
  nlohmann::json to_json() const;
};

// nDCG@10 of every judged query under a lexical configuration, memoised:
// each configuration's runs happen once however many folds ask. Indexes,
// one per title weight, live in `dir`/index-tw<w>.
class LexicalRuns {
 public:
  LexicalRuns(const JudgedQueries& set, const std::filesystem::path& dir, LogFn log);
  ~LexicalRuns();
  // Per judged query (in set.ids order), the nDCG@10 of the top 10.
  const std::vector<double>& ndcg(const LexConfig& c);
  // The BM25 grid (the default first): k1 {0.6 .. 2.0} x b {0.3 .. 0.9} x
  // title weights (1, 2, 3 when the corpus has titles and bodies; else the
  // default 2 only). The usual ranges: a wider grid (k1 0.2 .. 3.0, b 0.1
  // .. 1.0) chose worse on the test folds of MED, CISI and qbqtc alike
  // (docs/results/relevance.md): more choices, more selection noise.
  std::vector<LexConfig> bm25_grid() const;
  // The RM3 grid on top of `base`: feedback docs x terms x query weight.
  static std::vector<LexConfig> prf_grid(const LexConfig& base);
  const RecallChannel& channel(const LexConfig& c);
  std::filesystem::path index_dir(int title_weight) const;

 private:
  const JudgedQueries& set_;
  std::vector<const Query*> queries_;  // parallel to set_.ids
  std::filesystem::path dir_;
  LogFn log_;
  bool titles_and_bodies_ = false;
  std::map<std::string, std::vector<double>> ndcg_;
  std::map<std::string, std::unique_ptr<RecallChannel>> channels_;
};

// Every judged query's LambdaMART rows (in set.ids order): candidates,
// features and grades (rank/lexical_ranker.h) over the default index.
std::vector<rank::RankRows> build_rank_rows(const JudgedQueries& set, LexicalRuns& runs, std::size_t depth,
                                            const LogFn& log);

}  // namespace funnel::experiments
