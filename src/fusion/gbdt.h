// Gradient-boosted decision trees for learned score fusion and the LambdaMART
// ranker (rank/lexical_ranker.h): XGBoost (its C
// API) trained on rows of features (stage scores, pXtr heads, counts) with a
// label per row, and a model that scores such rows at serving time.
// docs/fusion-models.md says when to use it and how it is saved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace funnel::fusion {

// Training settings; the XGBoost parameter each one sets is named in
// brackets (https://xgboost.readthedocs.io/en/release_1.7.0/parameter.html).
struct GbdtParams {
  int rounds = 200;               // the most boosting rounds (trees), >= 1
  int max_depth = 4;              // depth of each tree, >= 1 [max_depth]
  double eta = 0.1;               // shrinkage of each tree, in (0, 1] [eta]
  double subsample = 0.8;         // share of rows each tree sees, in (0, 1] [subsample]
  double colsample = 1.0;         // share of columns each tree sees, in (0, 1] [colsample_bytree]
  double min_child_weight = 1.0;  // least hessian weight in a leaf, >= 0 [min_child_weight]
  double lambda = 1.0;            // L2 penalty on leaf values, >= 0 [lambda]
  // One output per row: "binary:*" (labels in [0, 1]), "reg:*",
  // "count:poisson", or a ranking objective "rank:ndcg" (LambdaMART),
  // "rank:pairwise" or "rank:map" over query groups (GbdtData::groups;
  // labels are grades, integers 0..31 for rank:ndcg) [objective]. Early
  // stopping watches a loss where lower is better: XGBoost's default metric
  // (logloss, rmse, ...), and 1 - nDCG@10 for the ranking objectives.
  // Multi-class objectives (several outputs per row) are refused.
  std::string objective = "binary:logistic";
  int threads = 1;                // training threads, >= 1 [nthread]
  std::uint64_t seed = 1;         // row and column sampling, <= 2^63 - 1 [seed]
  // With a validation set: stop after this many rounds without a lower
  // validation loss (0: never stop early). The model is cut to its best
  // round either way.
  int early_stopping_rounds = 20;
};

// A training or validation set, borrowed for the call.
struct GbdtData {
  std::span<const float> x;        // rows x cols, row-major; NaN = missing, +-inf refused
  std::size_t rows = 0, cols = 0;  // rows >= 1, cols >= 1
  std::span<const float> labels;   // rows, finite (in [0, 1] for binary:*)
  std::span<const float> weights;  // rows, finite and >= 0, not all 0; empty: every row 1
  // Ranking objectives ("rank:ndcg", "rank:pairwise", "rank:map") only, and
  // required there: the sizes of the consecutive query groups the rows come
  // in (each >= 1, summing to rows). Weights are then per group (one per
  // group, XGBoost's rule for ranking) or empty.
  std::span<const std::uint32_t> groups;
};

// A trained tree ensemble with the names of its input columns. Move-only (a
// moved-from model may only be assigned to or destroyed).
//
// Thread safety: every const member may be called from any number of
// threads at once. XGBoost documents prediction on tree boosters as
// thread-safe since 1.4 as long as nothing trains or sets parameters on the
// same booster meanwhile (https://xgboost.readthedocs.io/en/release_1.7.0/
// prediction.html#thread-safety); a model is fully configured before train()
// or load() returns and nothing changes it afterwards. predict() takes a
// shared lock; save() and importance(), which XGBoost does not document as
// safe next to prediction, take it exclusively.
//
// Saved format (one JSON file, written atomically):
//   {"format": "funnel-gbdt", "version": 1,
//    "features": [names, one per input column],
//    "best_iteration": N (0-based: the model has N + 1 rounds),
//    "checksum": XXH3-64 of the compact dump of "model", 16 hex digits,
//    "model": XGBoost's own JSON model (XGBoosterSaveModelToBuffer, "json")}
class GbdtModel {
 public:
  // Trains on `train`; with `valid` (same cols), stops early and keeps the
  // best round (GbdtParams::early_stopping_rounds). feature_names: one per
  // column, non-empty and distinct. progress, when given, is called after
  // every round with the round (0-based), the training loss and the
  // validation loss (NaN without `valid`). Deterministic for a given seed.
  // Throws funnel::Error on bad input (naming the set, row and column or the
  // parameter) and on any XGBoost error (with XGBoost's message).
  static GbdtModel train(const GbdtData& train, const GbdtData* valid, const std::vector<std::string>& feature_names,
                         const GbdtParams& params,
                         const std::function<void(int round, double train_loss, double valid_loss)>& progress = {});
  // Reads a file written by save(). Throws funnel::Error naming the file
  // (missing, not JSON, wrong format or version, checksum mismatch, a model
  // XGBoost refuses, or one that disagrees with "features").
  static GbdtModel load(const std::filesystem::path& file);
  // Writes the file atomically (temporary name + rename). Throws funnel::Error.
  void save(const std::filesystem::path& file) const;

  // Scores rows x features() values (row-major, NaN = missing): the margin
  // (log-odds for binary:logistic) when `margin`, else the objective's output
  // (a probability for binary:logistic). Returns rows values. Runs on the
  // calling thread (XGBoost nthread 1): callers parallelise across requests.
  // Throws funnel::Error when x.size() != rows * features().
  std::vector<float> predict(std::span<const float> x, std::size_t rows, bool margin = false) const;

  std::size_t features() const { return feature_names_.size(); }
  const std::vector<std::string>& feature_names() const { return feature_names_; }
  // The 0-based round the model ends at (it has best_iteration() + 1 rounds).
  int best_iteration() const { return best_iteration_; }
  // Every feature with its importance, highest first (ties in column order);
  // features no tree splits on score 0. type: "weight" (number of splits),
  // "gain", "cover", "total_gain" or "total_cover" (XGBoost's definitions).
  // Throws funnel::Error on another type.
  std::vector<std::pair<std::string, double>> importance(const std::string& type = "total_gain") const;

  GbdtModel(GbdtModel&&) noexcept;
  GbdtModel& operator=(GbdtModel&&) noexcept;
  ~GbdtModel();

 private:
  struct Booster;  // the XGBoost handle and its lock (gbdt.cc)
  GbdtModel(std::unique_ptr<Booster> booster, std::vector<std::string> feature_names, int best_iteration);

  std::unique_ptr<Booster> booster_;
  std::vector<std::string> feature_names_;
  int best_iteration_ = 0;
};

}  // namespace funnel::fusion
