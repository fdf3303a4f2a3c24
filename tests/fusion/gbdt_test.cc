// The gradient-boosted trees of the learned fusion (fusion/gbdt.h): they
// learn what a linear score cannot, honour sample weights, stop early, save
// and load bit-exactly, predict from several threads at once, and refuse bad
// input and damaged files with errors that name them.
#include "fusion/gbdt.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "funnel/error.h"
#include "test_util.h"

namespace funnel::fusion {
namespace {

using test::contains;
using test::error_of;

// Rows of uniform [0, 1) features and a label from them; `flip` is the
// share of labels flipped at random (noise).
struct Set {
  std::vector<float> x, labels;
  std::size_t rows = 0, cols = 0;
  GbdtData data() const { return {x, rows, cols, labels, {}, {}}; }
};

template <class Label>
Set make_set(std::size_t rows, std::size_t cols, std::uint32_t seed, double flip, Label label) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  Set s;
  s.rows = rows;
  s.cols = cols;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) s.x.push_back(u(rng));
    bool y = label(&s.x[r * cols]);
    if (u(rng) < flip) y = !y;
    s.labels.push_back(y ? 1.0f : 0.0f);
  }
  return s;
}

bool xor_label(const float* f) { return (f[0] > 0.5f) != (f[1] > 0.5f); }

// Area under the ROC curve, ties counted half.
double auc(const std::vector<float>& score, const std::vector<float>& label) {
  double wins = 0, pairs = 0;
  for (std::size_t i = 0; i < score.size(); ++i)
    for (std::size_t j = 0; j < score.size(); ++j)
      if (label[i] > label[j]) {
        pairs += 1;
        wins += score[i] > score[j] ? 1.0 : score[i] == score[j] ? 0.5 : 0.0;
      }
  return wins / pairs;
}

const std::vector<std::string> kNames3 = {"x0", "x1", "x2"};

GbdtParams quick_params() {
  GbdtParams p;
  p.rounds = 60;
  p.max_depth = 3;
  p.eta = 0.3;
  return p;
}

TEST(Gbdt, LearnsXorWhereNoLinearScoreCan) {
  const Set train = make_set(3000, 3, 1, 0.05, xor_label);
  const Set test = make_set(600, 3, 2, 0.0, xor_label);
  const GbdtModel m = GbdtModel::train(train.data(), nullptr, kNames3, quick_params());
  const std::vector<float> p = m.predict(test.x, test.rows);
  ASSERT_EQ(p.size(), test.rows);
  for (float v : p) ASSERT_TRUE(v >= 0 && v <= 1);
  EXPECT_GT(auc(p, test.labels), 0.9);

  // Any linear direction in (x0, x1) ranks the held-out rows at chance.
  for (auto [a, b] : std::vector<std::pair<float, float>>{{1, 0}, {0, 1}, {1, 1}, {1, -1}}) {
    std::vector<float> lin;
    for (std::size_t r = 0; r < test.rows; ++r) lin.push_back(a * test.x[r * 3] + b * test.x[r * 3 + 1]);
    const double l = auc(lin, test.labels);
    EXPECT_NEAR(l, 0.5, 0.08) << a << " x0 + " << b << " x1";
  }
  EXPECT_EQ(m.features(), 3u);
  EXPECT_EQ(m.feature_names(), kNames3);
  EXPECT_EQ(m.best_iteration(), 59);  // no validation set: every round

  // The margin is the log-odds of the probability.
  const std::vector<float> margin = m.predict(test.x, test.rows, true);
  for (std::size_t r = 0; r < 20; ++r) EXPECT_NEAR(1 / (1 + std::exp(-margin[r])), p[r], 1e-5);
}

TEST(Gbdt, HeavyWeightsOnPositivesRaiseTheirProbability) {
  // Labels that depend on x0 only weakly, so the probability is not pinned.
  const Set train = make_set(2000, 3, 3, 0.35, [](const float* f) { return f[0] > 0.5f; });
  std::vector<float> weights(train.rows);
  for (std::size_t r = 0; r < train.rows; ++r) weights[r] = train.labels[r] > 0 ? 10.0f : 1.0f;
  GbdtData weighted = train.data();
  weighted.weights = weights;
  const GbdtModel plain = GbdtModel::train(train.data(), nullptr, kNames3, quick_params());
  const GbdtModel heavy = GbdtModel::train(weighted, nullptr, kNames3, quick_params());
  const Set test = make_set(500, 3, 4, 0.0, [](const float*) { return false; });
  const auto p0 = plain.predict(test.x, test.rows), p1 = heavy.predict(test.x, test.rows);
  double m0 = 0, m1 = 0;
  for (std::size_t r = 0; r < test.rows; ++r) m0 += p0[r] / test.rows, m1 += p1[r] / test.rows;
  EXPECT_NEAR(m0, 0.5, 0.1);
  EXPECT_GT(m1, 0.8);  // about 10 / 11 with a tenfold weight on positives
}

TEST(Gbdt, ImportanceRanksTheInformativeFeatureFirst) {
  const Set train = make_set(2000, 3, 5, 0.1, [](const float* f) { return f[1] > 0.4f; });
  const GbdtModel m = GbdtModel::train(train.data(), nullptr, kNames3, quick_params());
  for (const char* type : {"weight", "gain", "cover", "total_gain", "total_cover"}) {
    const auto imp = m.importance(type);
    ASSERT_EQ(imp.size(), 3u) << type;
    for (std::size_t i = 1; i < imp.size(); ++i) EXPECT_GE(imp[i - 1].second, imp[i].second) << type;
  }
  const auto gain = m.importance();
  EXPECT_EQ(gain[0].first, "x1");
  EXPECT_GT(gain[0].second, 5 * gain[1].second);
  EXPECT_TRUE(contains(error_of([&] { m.importance("shap"); }), "'shap'"));
}

TEST(Gbdt, EarlyStoppingKeepsTheBestRound) {
  // Pure noise: the validation loss stops falling within a few rounds.
  const Set train = make_set(400, 3, 6, 0.5, xor_label);
  const Set valid = make_set(400, 3, 7, 0.5, xor_label);
  GbdtParams p = quick_params();
  p.rounds = 200;
  p.eta = 0.5;
  p.max_depth = 6;
  p.early_stopping_rounds = 5;
  std::vector<double> train_loss, valid_loss;
  const GbdtData vd = valid.data();
  const GbdtModel m = GbdtModel::train(train.data(), &vd, kNames3, p, [&](int round, double t, double v) {
    EXPECT_EQ(round, static_cast<int>(train_loss.size()));
    train_loss.push_back(t);
    valid_loss.push_back(v);
  });
  ASSERT_LT(valid_loss.size(), 200u);
  const int best = m.best_iteration();
  EXPECT_EQ(static_cast<int>(valid_loss.size()), best + 1 + 5);  // stopped 5 rounds after the best
  EXPECT_EQ(*std::min_element(valid_loss.begin(), valid_loss.end()), valid_loss[best]);
  EXPECT_LT(train_loss.back(), train_loss.front());  // it does fit the training noise
  for (double t : train_loss) EXPECT_TRUE(std::isfinite(t));

  // Without a validation set the loss is NaN and every round is kept.
  p.rounds = 3;
  int calls = 0;
  GbdtModel::train(train.data(), nullptr, kNames3, p, [&](int, double t, double v) {
    ++calls;
    EXPECT_TRUE(std::isfinite(t));
    EXPECT_TRUE(std::isnan(v));
  });
  EXPECT_EQ(calls, 3);
}

TEST(Gbdt, SaveLoadGivesBitIdenticalPredictions) {
  test::TempDir dir;
  const Set train = make_set(1500, 3, 8, 0.1, xor_label);
  const Set valid = make_set(300, 3, 9, 0.1, xor_label);
  const GbdtData vd = valid.data();
  const GbdtModel m = GbdtModel::train(train.data(), &vd, {"a b", "é\"q", "c"}, quick_params());
  const auto file = dir.path() / "gbdt.json";
  m.save(file);
  const GbdtModel back = GbdtModel::load(file);
  EXPECT_EQ(back.feature_names(), m.feature_names());
  EXPECT_EQ(back.best_iteration(), m.best_iteration());
  for (bool margin : {false, true}) {
    const auto a = m.predict(valid.x, valid.rows, margin), b = back.predict(valid.x, valid.rows, margin);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "margin " << margin;
  }
  EXPECT_EQ(back.importance(), m.importance());
  // Saving the loaded model writes the same file.
  back.save(dir.path() / "again.json");
  EXPECT_EQ(test::read_file(dir.path() / "again.json"), test::read_file(file));
}

TEST(Gbdt, TrainingIsDeterministicAndNaNIsMissing) {
  Set train = make_set(1000, 3, 10, 0.1, xor_label);
  for (std::size_t r = 0; r < train.rows; r += 7) train.x[r * 3 + 2] = std::nanf("");
  const GbdtModel a = GbdtModel::train(train.data(), nullptr, kNames3, quick_params());
  const GbdtModel b = GbdtModel::train(train.data(), nullptr, kNames3, quick_params());
  std::vector<float> probe = {0.2f, 0.7f, std::nanf(""), std::nanf(""), std::nanf(""), std::nanf("")};
  const auto pa = a.predict(probe, 2), pb = b.predict(probe, 2);
  EXPECT_EQ(pa, pb);
  EXPECT_EQ(a.predict(train.x, train.rows), b.predict(train.x, train.rows));
  EXPECT_TRUE(std::isfinite(pa[0]) && std::isfinite(pa[1]));
  EXPECT_TRUE(a.predict({}, 0).empty());
}

TEST(Gbdt, ConcurrentPredictionsMatchSerialOnes) {
  const Set train = make_set(2000, 3, 11, 0.05, xor_label);
  const GbdtModel m = GbdtModel::train(train.data(), nullptr, kNames3, quick_params());
  const Set test = make_set(64, 3, 12, 0.0, xor_label);
  // Serial reference: one row at a time and the whole batch.
  std::vector<float> serial;
  for (std::size_t r = 0; r < test.rows; ++r)
    serial.push_back(m.predict(std::span<const float>(test.x).subspan(r * 3, 3), 1)[0]);
  EXPECT_EQ(m.predict(test.x, test.rows), serial);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int it = 0; it < 200; ++it) {
        const std::size_t r = static_cast<std::size_t>(it * 4 + t) % test.rows;
        const bool batch = it % 3 == 0;
        if (batch) {
          if (m.predict(test.x, test.rows) != serial) ++mismatches[t];
        } else if (m.predict(std::span<const float>(test.x).subspan(r * 3, 3), 1)[0] != serial[r]) {
          ++mismatches[t];
        }
        if (it % 50 == 0) m.importance();  // exclusive lock in the mix
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(Gbdt, PredictRefusesTheWrongShape) {
  const Set train = make_set(200, 3, 13, 0.1, xor_label);
  const GbdtModel m = GbdtModel::train(train.data(), nullptr, kNames3, quick_params());
  const std::vector<float> four(8, 0.5f);  // 2 rows of 4 columns
  EXPECT_TRUE(contains(error_of([&] { m.predict(four, 2); }), "expected rows x features = 2 x 3"));
  EXPECT_TRUE(contains(error_of([&] { m.predict(std::vector<float>(6, 0.5f), 3); }), "3 x 3"));
  EXPECT_TRUE(contains(error_of([&] { m.predict(std::vector<float>(2, 0.5f), 0); }), "0 x 3"));
}

TEST(Gbdt, LoadRefusesMissingAndDamagedFilesNamingThem) {
  test::TempDir dir;
  const Set train = make_set(300, 3, 14, 0.1, xor_label);
  const GbdtModel m = GbdtModel::train(train.data(), nullptr, kNames3, quick_params());
  const auto good = dir.path() / "good.json";
  m.save(good);
  const std::string text = test::read_file(good);

  const auto missing = dir.path() / "missing.json";
  EXPECT_TRUE(contains(error_of([&] { GbdtModel::load(missing); }), missing.string() + ": cannot open"));

  auto load_error = [&](const std::string& name, const std::string& content) {
    const auto p = dir.path() / name;
    test::write_file(p, content);
    const std::string e = error_of([&] { GbdtModel::load(p); });
    EXPECT_TRUE(contains(e, p.string())) << e;
    return e;
  };
  EXPECT_TRUE(contains(load_error("truncated.json", text.substr(0, text.size() / 2)), "not a JSON object"));
  EXPECT_TRUE(contains(load_error("empty.json", ""), "not a JSON object"));
  // One changed digit inside the trees: valid JSON, caught by the checksum.
  std::string flipped = text;
  auto at = flipped.find("\"split_conditions\":[");
  ASSERT_NE(at, std::string::npos);
  while (flipped[at] < '2' || flipped[at] > '8') ++at;  // a digit that stays a digit plus or minus one
  flipped[at] = static_cast<char>(flipped[at] + 1);
  EXPECT_TRUE(contains(load_error("flipped.json", flipped), "field 'checksum'"));
  auto with = [&](const std::string& key, const nlohmann::json& value) {
    nlohmann::json j = nlohmann::json::parse(text);
    if (value.is_null()) j.erase(key); else j[key] = value;
    return j.dump();
  };
  EXPECT_TRUE(contains(load_error("format.json", with("format", "other")), "field 'format'"));
  EXPECT_TRUE(contains(load_error("version.json", with("version", 2)), "field 'version'"));
  EXPECT_TRUE(contains(load_error("nomodel.json", with("model", nullptr)), "field 'model': missing"));
  EXPECT_TRUE(contains(load_error("best.json", with("best_iteration", 3)), "field 'best_iteration'"));
  EXPECT_TRUE(contains(load_error("features.json", with("features", {"x0", "x1"})), "features"));
  EXPECT_TRUE(contains(load_error("dupes.json", with("features", {"x0", "x0", "x1"})), "field 'features'"));
  // A model XGBoost refuses, with a matching checksum.
  {
    nlohmann::json j = nlohmann::json::parse(text);
    j["model"] = nlohmann::json{{"learner", 1}};
    const std::string dumped = j["model"].dump();
    char hex[17];
    const auto sum = static_cast<unsigned long long>(XXH3_64bits(dumped.data(), dumped.size()));
    std::snprintf(hex, sizeof hex, "%016llx", sum);
    j["checksum"] = hex;
    const std::string e = load_error("refused.json", j.dump());
    EXPECT_TRUE(contains(e, "field 'model': XGBoost: ")) << e;
  }
  EXPECT_NO_THROW(GbdtModel::load(good));
}

// nDCG@k of `score`'s order of one group's grades (gain 2^g - 1).
double ndcg_at(const std::vector<float>& score, const std::vector<float>& grade, std::size_t k) {
  std::vector<std::size_t> order(score.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
  std::vector<float> ideal = grade;
  std::sort(ideal.rbegin(), ideal.rend());
  double dcg = 0, best = 0;
  for (std::size_t i = 0; i < k && i < order.size(); ++i) {
    dcg += (std::pow(2.0, grade[order[i]]) - 1) / std::log2(i + 2.0);
    best += (std::pow(2.0, ideal[i]) - 1) / std::log2(i + 2.0);
  }
  return best > 0 ? dcg / best : 0;
}

// Groups of 10 rows; the grade (0..2) rises with x0 - x1 within a group, and
// x2 shifts whole groups (a per-query offset that says nothing about order).
struct RankSet {
  std::vector<float> x, labels;
  std::vector<std::uint32_t> groups;
  GbdtData data() const { return {x, labels.size(), 3, labels, {}, groups}; }
};
RankSet make_rank_set(std::size_t n_groups, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  RankSet s;
  for (std::size_t g = 0; g < n_groups; ++g) {
    const float offset = u(rng);
    for (int r = 0; r < 10; ++r) {
      const float a = u(rng), b = u(rng);
      s.x.insert(s.x.end(), {a, b, offset});
      const float d = a - b;
      s.labels.push_back(d > 0.4f ? 2.0f : d > 0.0f ? 1.0f : 0.0f);
    }
    s.groups.push_back(10);
  }
  return s;
}

TEST(Gbdt, LambdaMartOrdersRowsWithinQueryGroups) {
  const RankSet train = make_rank_set(200, 31), valid = make_rank_set(50, 32), test = make_rank_set(100, 33);
  GbdtParams p = quick_params();
  p.objective = "rank:ndcg";
  const GbdtData dt = train.data(), dv = valid.data();
  std::vector<double> valid_loss;
  const GbdtModel m = GbdtModel::train(dt, &dv, kNames3, p, [&](int, double, double v) { valid_loss.push_back(v); });
  // The watched loss is 1 - nDCG@10, in [0, 1].
  ASSERT_FALSE(valid_loss.empty());
  for (double v : valid_loss) EXPECT_TRUE(v >= 0 && v <= 1) << v;
  const auto pred = m.predict(test.x, test.labels.size());
  double model = 0, by_offset = 0;
  for (std::size_t g = 0; g < test.groups.size(); ++g) {
    const auto from = static_cast<std::ptrdiff_t>(g * 10), to = from + 10;
    const std::vector<float> s(pred.begin() + from, pred.begin() + to), y(test.labels.begin() + from, test.labels.begin() + to);
    std::vector<float> offset;
    for (std::ptrdiff_t r = from; r < to; ++r) offset.push_back(test.x[static_cast<std::size_t>(r) * 3 + 2]);
    model += ndcg_at(s, y, 5);
    by_offset += ndcg_at(offset, y, 5);  // every row of a group ties: input order
  }
  model /= static_cast<double>(test.groups.size());
  by_offset /= static_cast<double>(test.groups.size());
  std::printf("  test nDCG@5: LambdaMART %.3f, input order %.3f\n", model, by_offset);
  EXPECT_GT(model, 0.9);
  EXPECT_GT(model, by_offset + 0.2);
  // x2 is constant within a group: it cannot be what orders the rows.
  EXPECT_NE(m.importance("total_gain").front().first, "x2");
}

TEST(Gbdt, TrainRefusesBadInputNamingTheField) {
  Set s = make_set(50, 3, 15, 0.1, xor_label);
  const GbdtParams p = quick_params();
  auto train_error = [&](const GbdtData& d, const GbdtParams& params = quick_params(),
                         const std::vector<std::string>& names = kNames3, const GbdtData* valid = nullptr) {
    return error_of([&] { GbdtModel::train(d, valid, names, params); });
  };
  GbdtData d = s.data();
  d.rows = 49;
  EXPECT_TRUE(contains(train_error(d), "train.x: has 150 values, expected rows x cols = 49 x 3"));
  d = s.data();
  d.labels = std::span<const float>(s.labels).first(10);
  EXPECT_TRUE(contains(train_error(d), "train.labels: has 10 values"));
  std::vector<float> w(50, 1.0f);
  d = s.data();
  d.weights = std::span<const float>(w).first(3);
  EXPECT_TRUE(contains(train_error(d), "train.weights: has 3 values"));
  w[7] = -1;
  d.weights = w;
  EXPECT_TRUE(contains(train_error(d), "train.weights: row 7"));
  std::fill(w.begin(), w.end(), 0.0f);
  EXPECT_TRUE(contains(train_error(d), "every weight is 0"));
  Set bad = s;
  bad.labels[4] = std::nanf("");
  EXPECT_TRUE(contains(train_error(bad.data()), "train.labels: row 4: not a finite number"));
  bad.labels[4] = 2;
  EXPECT_TRUE(contains(train_error(bad.data()), "outside [0, 1]"));
  bad = s;
  bad.x[3 * 3 + 1] = INFINITY;
  EXPECT_TRUE(contains(train_error(bad.data()), "train.x: row 3, column 1 (x1): infinite"));
  EXPECT_TRUE(contains(train_error(s.data(), p, {"x0", "x1"}), "feature_names: expected 3 names"));
  EXPECT_TRUE(contains(train_error(s.data(), p, {"x0", "x1", "x1"}), "feature_names[2]: 'x1' appears twice"));
  EXPECT_TRUE(contains(train_error(s.data(), p, {"x0", "", "x2"}), "feature_names[1]: empty"));
  const Set two = make_set(20, 2, 16, 0.1, xor_label);
  const GbdtData vd = two.data();
  EXPECT_TRUE(contains(train_error(s.data(), p, kNames3, &vd), "valid: has 2 columns, train has 3"));

  auto with = [&](auto change) {
    GbdtParams q = quick_params();
    change(q);
    return train_error(s.data(), q);
  };
  EXPECT_TRUE(contains(with([](GbdtParams& q) { q.eta = 0; }), "GbdtParams.eta"));
  EXPECT_TRUE(contains(with([](GbdtParams& q) { q.subsample = NAN; }), "GbdtParams.subsample"));
  EXPECT_TRUE(contains(with([](GbdtParams& q) { q.rounds = 0; }), "GbdtParams.rounds"));
  EXPECT_TRUE(contains(with([](GbdtParams& q) { q.lambda = -1; }), "GbdtParams.lambda"));
  EXPECT_TRUE(contains(with([](GbdtParams& q) { q.objective = "multi:softmax"; }), "GbdtParams.objective"));
  // Ranking objectives need groups that cover the rows; others refuse them.
  EXPECT_TRUE(contains(with([](GbdtParams& q) { q.objective = "rank:pairwise"; }), "train.groups: missing"));
  GbdtParams rank = quick_params();
  rank.objective = "rank:ndcg";
  const std::vector<std::uint32_t> groups = {20, 20, 9};
  d = s.data();
  d.groups = groups;
  EXPECT_TRUE(contains(train_error(d, rank), "train.groups: sizes sum to 49, expected the rows (50)"));
  EXPECT_TRUE(contains(train_error(d), "only ranking objectives take groups"));
  const std::vector<std::uint32_t> with_empty = {25, 0, 25};
  d.groups = with_empty;
  EXPECT_TRUE(contains(train_error(d, rank), "train.groups: group 1 is empty"));
  // An objective XGBoost does not know: its own message comes through.
  EXPECT_TRUE(contains(with([](GbdtParams& q) { q.objective = "reg:nonsense"; }), "XGBoost: "));
  // Regression: labels outside [0, 1] are fine.
  GbdtParams reg = quick_params();
  reg.objective = "reg:squarederror";
  Set r = s;
  for (auto& y : r.labels) y *= 7;
  EXPECT_NO_THROW(GbdtModel::train(r.data(), nullptr, kNames3, reg));
}

}  // namespace
}  // namespace funnel::fusion
