// GbdtModel apart from training: prediction, importance and the model file.
#include "fusion/gbdt.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <numeric>
#include <set>

#include <nlohmann/json.hpp>

#include "funnel/error.h"
#include "fusion/xgboost_api.h"
#include "util/fs.h"

namespace funnel::fusion {
using nlohmann::json;

namespace {

constexpr const char* kFormat = "funnel-gbdt";
constexpr int kVersion = 1;

// numpy's __array_interface__ for a borrowed row-major float32 matrix, the
// input XGBoosterPredictFromDense reads in place.
std::string array_interface(const float* data, std::size_t rows, std::size_t cols) {
  const char* typestr = std::endian::native == std::endian::little ? "<f4" : ">f4";
  return "{\"data\":[" + std::to_string(reinterpret_cast<std::uintptr_t>(data)) + ",true],\"shape\":[" +
         std::to_string(rows) + "," + std::to_string(cols) + "],\"typestr\":\"" + typestr + "\",\"version\":3}";
}

// Fills out[0, rows) with the booster's predictions for x.
void predict_into(void* handle, const float* x, std::size_t rows, std::size_t cols, bool margin, float* out,
                  const std::string& where) {
  const std::string values = array_interface(x, rows, cols);
  // cache_id must be 0 (the only value XGBoost 1.7 accepts); iteration_end
  // 0 = every round the model has.
  const std::string config = std::string("{\"type\":") + (margin ? "1" : "0") +
                             ",\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,"
                             "\"strict_shape\":false,\"cache_id\":0,\"missing\":NaN}";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  detail::xgb_check(XGBoosterPredictFromDense(handle, values.c_str(), config.c_str(), nullptr, &shape, &dim, &result),
                    where);
  std::size_t n = 1;
  for (bst_ulong i = 0; i < dim; ++i) n *= shape[i];
  if (n != rows) throw Error(where + ": XGBoost returned " + std::to_string(n) + " values for " + std::to_string(rows) +
                             " rows (a model with several outputs per row?)");
  // `result` lives in XGBoost's per-thread buffer: copy it out now.
  std::copy(result, result + rows, out);
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

std::string checksum_of(const std::string& s) { return hex64(XXH3_64bits(s.data(), s.size())); }

}  // namespace

namespace detail {

void xgb_check(int rc, const std::string& what) {
  if (rc == 0) return;
  std::string msg = XGBGetLastError();
  if (auto cut = msg.find("\nStack trace:"); cut != std::string::npos) msg.resize(cut);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  // "[hh:mm:ss] " first: a time stamp that would make messages differ run to run.
  if (msg.size() > 11 && msg[0] == '[' && msg[9] == ']') msg.erase(0, 11);
  for (std::size_t at; (at = msg.find('\n')) != std::string::npos;) msg.replace(at, 1, "; ");
  throw Error(what + ": XGBoost: " + msg);
}

void prepare_for_serving(void* handle, std::size_t cols, const std::string& where) {
  xgb_check(XGBoosterSetParam(handle, "nthread", "1"), where);
  bst_ulong n = 0;
  xgb_check(XGBoosterGetNumFeature(handle, &n), where);
  if (n != cols)
    throw Error(where + ": the XGBoost model takes " + std::to_string(n) + " features, expected " +
                std::to_string(cols));
  const std::vector<float> row(cols, std::nanf(""));
  float out = 0;
  predict_into(handle, row.data(), 1, cols, false, &out, where);
}

}  // namespace detail

GbdtModel::GbdtModel(std::unique_ptr<Booster> booster, std::vector<std::string> feature_names, int best_iteration)
    : booster_(std::move(booster)), feature_names_(std::move(feature_names)), best_iteration_(best_iteration) {}
GbdtModel::GbdtModel(GbdtModel&&) noexcept = default;
GbdtModel& GbdtModel::operator=(GbdtModel&&) noexcept = default;
GbdtModel::~GbdtModel() = default;

std::vector<float> GbdtModel::predict(std::span<const float> x, std::size_t rows, bool margin) const {
  const std::size_t cols = features();
  if (x.size() % cols != 0 || x.size() / cols != rows)  // (no rows * cols: it could overflow)
    throw Error("GbdtModel::predict: x has " + std::to_string(x.size()) + " values, expected rows x features = " +
                std::to_string(rows) + " x " + std::to_string(cols));
  std::vector<float> out(rows);
  if (rows == 0) return out;
  std::shared_lock guard(booster_->lock);
  predict_into(booster_->handle.get(), x.data(), rows, cols, margin, out.data(), "GbdtModel::predict");
  return out;
}

std::vector<std::pair<std::string, double>> GbdtModel::importance(const std::string& type) const {
  static const std::set<std::string> kTypes = {"weight", "gain", "cover", "total_gain", "total_cover"};
  if (!kTypes.count(type))
    throw Error("GbdtModel::importance: type '" + type +
                "': expected weight, gain, cover, total_gain or total_cover");
  const std::string where = "GbdtModel::importance";
  // Features are passed by position ("f<column>") so that any name, however
  // odd, maps back to its column.
  json names = json::array();
  for (std::size_t i = 0; i < features(); ++i) names.push_back("f" + std::to_string(i));
  const std::string config = json{{"importance_type", type}, {"feature_names", names}}.dump();
  std::vector<double> score(features(), 0.0);
  {
    std::unique_lock guard(booster_->lock);
    bst_ulong n = 0, dim = 0;
    const char** out_names = nullptr;
    const bst_ulong* shape = nullptr;
    const float* scores = nullptr;
    detail::xgb_check(XGBoosterFeatureScore(booster_->handle.get(), config.c_str(), &n, &out_names, &dim, &shape,
                                            &scores),
                      where);
    for (bst_ulong i = 0; i < n; ++i) {
      const std::string name = out_names[i];
      std::size_t col = features();
      if (name.size() > 1 && name[0] == 'f') col = std::strtoull(name.c_str() + 1, nullptr, 10);
      if (col >= features()) throw Error(where + ": XGBoost named an unknown feature '" + name + "'");
      score[col] = scores[i];
    }
  }
  std::vector<std::size_t> order(features());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
  std::vector<std::pair<std::string, double>> out;
  for (std::size_t c : order) out.emplace_back(feature_names_[c], score[c]);
  return out;
}

void GbdtModel::save(const std::filesystem::path& file) const {
  const std::string where = file.string();
  json model;
  {
    std::unique_lock guard(booster_->lock);
    bst_ulong len = 0;
    const char* buf = nullptr;
    detail::xgb_check(XGBoosterSaveModelToBuffer(booster_->handle.get(), "{\"format\":\"json\"}", &len, &buf), where);
    model = json::parse(buf, buf + len, nullptr, false);
  }
  if (model.is_discarded() || !model.is_object()) throw Error(where + ": XGBoost wrote a model that is not JSON");
  // The checksum covers the compact dump, which load() recomputes from the
  // parsed file: independent of how the file is indented.
  const std::string dumped = model.dump();
  json j = {{"format", kFormat},          {"version", kVersion}, {"features", feature_names_},
            {"best_iteration", best_iteration_}, {"checksum", checksum_of(dumped)}, {"model", std::move(model)}};
  funnel::detail::AtomicFile out(file);
  out.stream() << j.dump() << '\n';
  out.commit();
}

GbdtModel GbdtModel::load(const std::filesystem::path& file) {
  const std::string where = file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(where + ": cannot open");
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(where + ": not a JSON object (damaged or not a GBDT model)");
  for (const char* key : {"format", "version", "features", "best_iteration", "checksum", "model"})
    if (!j.contains(key)) throw Error(where + ": field '" + key + "': missing");
  if (j["format"] != kFormat)
    throw Error(where + ": field 'format': expected \"" + kFormat + "\", got " + j["format"].dump());
  if (j["version"] != kVersion)
    throw Error(where + ": field 'version': expected " + std::to_string(kVersion) + ", got " + j["version"].dump());

  const json& f = j["features"];
  if (!f.is_array() || f.empty()) throw Error(where + ": field 'features': expected a non-empty array of names");
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const json& name : f) {
    if (!name.is_string() || name.get<std::string>().empty() || !seen.insert(name.get<std::string>()).second)
      throw Error(where + ": field 'features': expected distinct non-empty names, got " + name.dump());
    names.push_back(name.get<std::string>());
  }
  const json& best = j["best_iteration"];
  if (!best.is_number_integer() || best.get<long long>() < 0 || best.get<long long>() > 1'000'000'000)
    throw Error(where + ": field 'best_iteration': expected an integer >= 0, got " + best.dump());
  const json& model = j["model"];
  if (!model.is_object()) throw Error(where + ": field 'model': expected XGBoost's JSON model (an object)");
  const std::string dumped = model.dump();
  if (!j["checksum"].is_string() || j["checksum"].get<std::string>() != checksum_of(dumped))
    throw Error(where + ": field 'checksum': does not match the model (damaged file)");

  auto booster = std::make_unique<Booster>();
  void* handle = nullptr;
  detail::xgb_check(XGBoosterCreate(nullptr, 0, &handle), where);
  booster->handle.reset(handle);
  detail::xgb_check(XGBoosterLoadModelFromBuffer(handle, dumped.data(), dumped.size()), where + ": field 'model'");
  int rounds = 0;
  detail::xgb_check(XGBoosterBoostedRounds(handle, &rounds), where);
  if (rounds != best.get<int>() + 1)
    throw Error(where + ": field 'best_iteration': " + best.dump() + ", but the model has " + std::to_string(rounds) +
                " rounds (expected best_iteration + 1)");
  detail::prepare_for_serving(handle, names.size(), where);
  return GbdtModel(std::move(booster), std::move(names), best.get<int>());
}

}  // namespace funnel::fusion
