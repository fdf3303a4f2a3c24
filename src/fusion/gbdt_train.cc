// GbdtModel::train: input checks, the boosting loop with early stopping, and
// the cut to the best round.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>

#include "funnel/error.h"
#include "fusion/gbdt.h"
#include "fusion/xgboost_api.h"

namespace funnel::fusion {

namespace {

const std::string kWhere = "GbdtModel::train";

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
bool is_binary(const GbdtParams& p) { return starts_with(p.objective, "binary:"); }
bool is_ranking(const GbdtParams& p) {
  return p.objective == "rank:ndcg" || p.objective == "rank:pairwise" || p.objective == "rank:map";
}

// Every digit of a double, for parameters XGBoost reads as text.
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void check_params(const GbdtParams& p) {
  auto fail = [](const std::string& field, const std::string& expected, const std::string& got) {
    throw Error(kWhere + ": GbdtParams." + field + ": expected " + expected + ", got " + got);
  };
  auto in_unit = [](double v) { return v > 0 && v <= 1; };  // false for NaN
  if (p.rounds < 1) fail("rounds", ">= 1", std::to_string(p.rounds));
  if (p.max_depth < 1) fail("max_depth", ">= 1", std::to_string(p.max_depth));
  if (!in_unit(p.eta)) fail("eta", "a number in (0, 1]", number(p.eta));
  if (!in_unit(p.subsample)) fail("subsample", "a number in (0, 1]", number(p.subsample));
  if (!in_unit(p.colsample)) fail("colsample", "a number in (0, 1]", number(p.colsample));
  if (!(p.min_child_weight >= 0) || !std::isfinite(p.min_child_weight))
    fail("min_child_weight", "a finite number >= 0", number(p.min_child_weight));
  if (!(p.lambda >= 0) || !std::isfinite(p.lambda)) fail("lambda", "a finite number >= 0", number(p.lambda));
  if (p.threads < 1) fail("threads", ">= 1", std::to_string(p.threads));
  if (p.seed > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    fail("seed", "<= 2^63 - 1", std::to_string(p.seed));
  if (p.early_stopping_rounds < 0) fail("early_stopping_rounds", ">= 0", std::to_string(p.early_stopping_rounds));
  // Early stopping watches XGBoost's default metric for the objective, a
  // loss (lower is better) for these families; ranking objectives watch
  // 1 - nDCG@10 instead. multi:* (several outputs per row) is refused.
  if (!starts_with(p.objective, "binary:") && !starts_with(p.objective, "reg:") && p.objective != "count:poisson" &&
      !is_ranking(p))
    fail("objective", "binary:*, reg:*, count:poisson, rank:ndcg, rank:pairwise or rank:map", "'" + p.objective + "'");
}

void check_data(const GbdtData& d, const std::string& set, const std::vector<std::string>& names,
                const GbdtParams& p) {
  const std::string where = kWhere + ": " + set;
  if (d.rows == 0 || d.cols == 0)
    throw Error(where + ": expected rows >= 1 and cols >= 1, got " + std::to_string(d.rows) + " x " +
                std::to_string(d.cols));
  if (d.x.size() % d.cols != 0 || d.x.size() / d.cols != d.rows)
    throw Error(where + ".x: has " + std::to_string(d.x.size()) + " values, expected rows x cols = " +
                std::to_string(d.rows) + " x " + std::to_string(d.cols));
  if (d.labels.size() != d.rows)
    throw Error(where + ".labels: has " + std::to_string(d.labels.size()) + " values, expected one per row (" +
                std::to_string(d.rows) + ")");
  if (is_ranking(p)) {
    if (d.groups.empty()) throw Error(where + ".groups: missing (objective " + p.objective + " ranks rows within query groups)");
    std::size_t sum = 0;
    for (std::size_t g = 0; g < d.groups.size(); ++g) {
      if (d.groups[g] == 0) throw Error(where + ".groups: group " + std::to_string(g) + " is empty");
      sum += d.groups[g];
    }
    if (sum != d.rows)
      throw Error(where + ".groups: sizes sum to " + std::to_string(sum) + ", expected the rows (" +
                  std::to_string(d.rows) + ")");
    if (!d.weights.empty() && d.weights.size() != d.groups.size())
      throw Error(where + ".weights: has " + std::to_string(d.weights.size()) + " values, expected one per group (" +
                  std::to_string(d.groups.size()) + ") or none");
  } else {
    if (!d.groups.empty())
      throw Error(where + ".groups: only ranking objectives take groups (objective " + p.objective + ")");
    if (!d.weights.empty() && d.weights.size() != d.rows)
      throw Error(where + ".weights: has " + std::to_string(d.weights.size()) + " values, expected one per row (" +
                  std::to_string(d.rows) + ") or none");
  }
  for (std::size_t i = 0; i < d.x.size(); ++i)
    if (std::isinf(d.x[i]))
      throw Error(where + ".x: row " + std::to_string(i / d.cols) + ", column " + std::to_string(i % d.cols) + " (" +
                  (i % d.cols < names.size() ? names[i % d.cols] : std::string("?")) +
                  "): infinite (NaN marks a missing value; infinities are refused)");
  for (std::size_t r = 0; r < d.rows; ++r) {
    const float y = d.labels[r];
    if (!std::isfinite(y)) throw Error(where + ".labels: row " + std::to_string(r) + ": not a finite number");
    if (is_binary(p) && (y < 0 || y > 1))
      throw Error(where + ".labels: row " + std::to_string(r) + ": " + number(y) + " is outside [0, 1] (objective " +
                  p.objective + ")");
  }
  double total = 0;
  for (std::size_t r = 0; r < d.weights.size(); ++r) {
    const float w = d.weights[r];
    if (!std::isfinite(w) || w < 0)
      throw Error(where + ".weights: row " + std::to_string(r) + ": expected a finite number >= 0, got " + number(w));
    total += w;
  }
  if (!d.weights.empty() && !(total > 0)) throw Error(where + ".weights: every weight is 0");
}

detail::DMatrixPtr make_dmatrix(const GbdtData& d, const std::string& set) {
  const std::string where = kWhere + ": " + set;
  void* handle = nullptr;
  detail::xgb_check(XGDMatrixCreateFromMat(d.x.data(), d.rows, d.cols, std::nanf(""), &handle), where);
  detail::DMatrixPtr m(handle);
  detail::xgb_check(XGDMatrixSetFloatInfo(handle, "label", d.labels.data(), d.rows), where);
  if (!d.weights.empty())
    detail::xgb_check(XGDMatrixSetFloatInfo(handle, "weight", d.weights.data(), d.weights.size()), where);
  if (!d.groups.empty())
    detail::xgb_check(XGDMatrixSetUIntInfo(handle, "group", d.groups.data(), d.groups.size()), where);
  return m;
}

// The value of `set`'s metric in XGBoosterEvalOneIter's line
// "[r]\ttrain-logloss:0.69\tvalid-logloss:0.70".
double metric_of(const std::string& line, const std::string& set) {
  const auto at = line.find("\t" + set + "-");
  const auto colon = at == std::string::npos ? at : line.find(':', at);
  if (colon == std::string::npos)
    throw Error(kWhere + ": cannot read the " + set + " loss from XGBoost's '" + line + "'");
  return std::strtod(line.c_str() + colon + 1, nullptr);
}

}  // namespace

GbdtModel GbdtModel::train(const GbdtData& train, const GbdtData* valid, const std::vector<std::string>& feature_names,
                           const GbdtParams& params,
                           const std::function<void(int round, double train_loss, double valid_loss)>& progress) {
  check_params(params);
  if (feature_names.size() != train.cols)
    throw Error(kWhere + ": feature_names: expected " + std::to_string(train.cols) + " names (one per column), got " +
                std::to_string(feature_names.size()));
  std::set<std::string> seen;
  for (std::size_t i = 0; i < feature_names.size(); ++i) {
    const std::string& n = feature_names[i];
    if (n.empty()) throw Error(kWhere + ": feature_names[" + std::to_string(i) + "]: empty (names must be non-empty)");
    if (!seen.insert(n).second)
      throw Error(kWhere + ": feature_names[" + std::to_string(i) + "]: '" + n +
                  "' appears twice (names must be distinct)");
  }
  check_data(train, "train", feature_names, params);
  if (valid) {
    check_data(*valid, "valid", feature_names, params);
    if (valid->cols != train.cols)
      throw Error(kWhere + ": valid: has " + std::to_string(valid->cols) + " columns, train has " +
                  std::to_string(train.cols));
  }

  detail::DMatrixPtr dtrain = make_dmatrix(train, "train");
  detail::DMatrixPtr dvalid = valid ? make_dmatrix(*valid, "valid") : nullptr;
  DMatrixHandle cache[2] = {dtrain.get(), dvalid.get()};
  void* handle = nullptr;
  detail::xgb_check(XGBoosterCreate(cache, valid ? 2 : 1, &handle), kWhere);
  auto booster = std::make_unique<Booster>();
  booster->handle.reset(handle);
  auto set = [&](const char* name, const std::string& value) {
    detail::xgb_check(XGBoosterSetParam(handle, name, value.c_str()), kWhere + ": parameter " + name + "=" + value);
  };
  set("objective", params.objective);
  set("tree_method", "hist");  // histogram splits: the fast exact-enough CPU method
  set("max_depth", std::to_string(params.max_depth));
  set("eta", number(params.eta));
  set("subsample", number(params.subsample));
  set("colsample_bytree", number(params.colsample));
  set("min_child_weight", number(params.min_child_weight));
  set("lambda", number(params.lambda));
  set("nthread", std::to_string(params.threads));
  set("seed", std::to_string(params.seed));
  if (is_ranking(params)) set("eval_metric", "ndcg@10");

  const double nan = std::numeric_limits<double>::quiet_NaN();
  int best = params.rounds - 1;
  double best_loss = std::numeric_limits<double>::infinity();
  for (int round = 0; round < params.rounds; ++round) {
    detail::xgb_check(XGBoosterUpdateOneIter(handle, round, dtrain.get()), kWhere + ": round " + std::to_string(round));
    if (!valid && !progress) continue;
    // The training loss comes from XGBoost's prediction cache: evaluating it
    // costs no pass over the trees.
    DMatrixHandle mats[2];
    const char* names[2];
    bst_ulong n = 0;
    if (progress) mats[n] = dtrain.get(), names[n++] = "train";
    if (valid) mats[n] = dvalid.get(), names[n++] = "valid";
    const char* line = nullptr;
    detail::xgb_check(XGBoosterEvalOneIter(handle, round, mats, names, n, &line), kWhere);
    // Ranking: the metric is nDCG@10 (higher is better); its loss is 1 - it.
    const double flip = is_ranking(params) ? 1 : 0, sign = is_ranking(params) ? -1 : 1;
    const double train_loss = progress ? flip + sign * metric_of(line, "train") : nan;
    const double valid_loss = valid ? flip + sign * metric_of(line, "valid") : nan;
    if (progress) progress(round, train_loss, valid_loss);
    if (!valid) continue;
    if (!std::isfinite(valid_loss))
      throw Error(kWhere + ": round " + std::to_string(round) + ": the validation loss is not finite");
    if (valid_loss < best_loss) {
      best_loss = valid_loss;
      best = round;
    } else if (params.early_stopping_rounds > 0 && round - best >= params.early_stopping_rounds) {
      break;
    }
  }

  // Always a slice, even of every round: a fresh booster with the kept
  // rounds only, free of the training data's prediction caches.
  void* cut = nullptr;
  detail::xgb_check(XGBoosterSlice(handle, 0, best + 1, 1, &cut),
                    kWhere + ": keeping rounds 0.." + std::to_string(best));
  booster->handle.reset(cut);
  detail::prepare_for_serving(booster->handle.get(), train.cols, kWhere);
  return GbdtModel(std::move(booster), feature_names, best);
}

}  // namespace funnel::fusion
