// train_pairwise_ltr: input checks, the pairs, the standardisation and the
// L-BFGS fit (the loss is written out in pairwise_ltr.h).
#include "fusion/pairwise_ltr.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <unordered_set>

#include "funnel/error.h"
#include "fusion/lbfgs.h"

namespace funnel::fusion {

namespace {

const std::string kWhere = "train_pairwise_ltr";

struct Group {
  std::size_t begin = 0, end = 0;  // rows [begin, end)
};

std::string str(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

void check_input(const LtrData& d, const LtrOptions& o) {
  auto fail = [](const std::string& what) { throw Error(kWhere + ": " + what); };
  if (d.rows == 0 || d.cols == 0 || d.objectives == 0)
    fail("LtrData: expected rows, cols and objectives >= 1, got " + std::to_string(d.rows) + ", " +
         std::to_string(d.cols) + " and " + std::to_string(d.objectives));
  if (d.x.size() % d.cols != 0 || d.x.size() / d.cols != d.rows)
    fail("LtrData.x: has " + std::to_string(d.x.size()) + " values, expected rows x cols = " +
         std::to_string(d.rows) + " x " + std::to_string(d.cols));
  if (d.groups.size() != d.rows)
    fail("LtrData.groups: has " + std::to_string(d.groups.size()) + " values, expected one per row (" +
         std::to_string(d.rows) + ")");
  if (d.outcomes.size() % d.objectives != 0 || d.outcomes.size() / d.objectives != d.rows)
    fail("LtrData.outcomes: has " + std::to_string(d.outcomes.size()) + " values, expected rows x objectives = " +
         std::to_string(d.rows) + " x " + std::to_string(d.objectives));
  for (std::size_t i = 0; i < d.x.size(); ++i)
    if (!std::isfinite(d.x[i]))
      fail("LtrData.x: row " + std::to_string(i / d.cols) + ", column " + std::to_string(i % d.cols) +
           ": not a finite number");
  for (std::size_t i = 0; i < d.outcomes.size(); ++i)
    if (!std::isfinite(d.outcomes[i]))
      fail("LtrData.outcomes: row " + std::to_string(i / d.objectives) + ", objective " +
           std::to_string(i % d.objectives) + ": not a finite number");

  if (o.objective_weights.size() != d.objectives)
    fail("LtrOptions.objective_weights: has " + std::to_string(o.objective_weights.size()) +
         " weights, expected one per objective (" + std::to_string(d.objectives) + ")");
  bool any = false;
  for (std::size_t k = 0; k < o.objective_weights.size(); ++k) {
    const double w = o.objective_weights[k];
    if (!std::isfinite(w) || w < 0)
      fail("LtrOptions.objective_weights[" + std::to_string(k) + "]: expected a finite number >= 0, got " + str(w));
    any = any || w > 0;
  }
  if (!any) fail("LtrOptions.objective_weights: every weight is 0 (nothing to learn)");
  if (!std::isfinite(o.l2) || o.l2 < 0) fail("LtrOptions.l2: expected a finite number >= 0, got " + str(o.l2));
  if (o.epochs < 1) fail("LtrOptions.epochs: expected >= 1, got " + std::to_string(o.epochs));
  if (!std::isfinite(o.learning_rate) || !(o.learning_rate > 0))
    fail("LtrOptions.learning_rate: expected a finite number > 0, got " + str(o.learning_rate));
}

// The groups in row order; throws when a group's rows are not contiguous.
std::vector<Group> split_groups(std::span<const std::uint32_t> groups) {
  std::vector<Group> out;
  std::unordered_set<std::uint32_t> closed;
  for (std::size_t r = 0; r < groups.size(); ++r) {
    if (r > 0 && groups[r] == groups[r - 1]) {
      out.back().end = r + 1;
      continue;
    }
    if (r > 0) closed.insert(groups[r - 1]);
    if (closed.count(groups[r]))
      throw Error(kWhere + ": LtrData.groups: group " + std::to_string(groups[r]) + " appears again at row " +
                  std::to_string(r) + " after other groups (the rows of one group must be contiguous)");
    out.push_back({r, r + 1});
  }
  return out;
}

// Pairs (i, j) of one group with y(i) > y(j): all pairs minus the tied ones.
std::size_t count_pairs(std::vector<float> y) {
  std::sort(y.begin(), y.end());
  std::size_t n = y.size(), pairs = n * (n - 1) / 2;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && y[j] == y[i]) ++j;
    pairs -= (j - i) * (j - i - 1) / 2;
    i = j;
  }
  return pairs;
}

// log(1 + exp(-m)) and its derivative in m, -1 / (1 + exp(m)), from one exp
// and without overflow for any m.
void pair_loss(double m, double& loss, double& slope) {
  const double e = std::exp(-std::abs(m));
  if (m >= 0) {
    loss = std::log1p(e);
    slope = -e / (1 + e);
  } else {
    loss = -m + std::log1p(e);
    slope = -1 / (1 + e);
  }
}

}  // namespace

LtrModel train_pairwise_ltr(const LtrData& d, const LtrOptions& o,
                            const std::function<void(int iteration, double loss)>& progress) {
  check_input(d, o);
  const std::vector<Group> all_groups = split_groups(d.groups);
  auto outcome = [&](std::size_t row, std::size_t obj) { return d.outcomes[row * d.objectives + obj]; };

  // Per weighted objective: its pair count; the groups with any pair.
  std::vector<std::size_t> pairs(d.objectives, 0);
  std::vector<Group> groups;  // groups with a pair for some weighted objective, in row order
  for (const Group& g : all_groups) {
    bool used = false;
    for (std::size_t obj = 0; obj < d.objectives; ++obj) {
      if (!(o.objective_weights[obj] > 0)) continue;
      std::vector<float> y;
      for (std::size_t r = g.begin; r < g.end; ++r) y.push_back(outcome(r, obj));
      const std::size_t n = count_pairs(std::move(y));
      pairs[obj] += n;
      used = used || n > 0;
    }
    if (used) groups.push_back(g);
  }
  if (groups.empty())
    throw Error(kWhere + ": no training pair: within every group, the outcomes of each weighted objective are equal");

  // The standardisation, over the rows in some pair.
  LtrModel model;
  model.mean.assign(d.cols, 0.0);
  model.scale.assign(d.cols, 0.0);
  model.weights.assign(d.cols, 0.0);
  std::size_t n = 0;
  for (const Group& g : groups) n += g.end - g.begin;
  std::vector<std::size_t> active;  // columns with scale > 0
  for (std::size_t c = 0; c < d.cols; ++c) {
    const float first = d.x[groups[0].begin * d.cols + c];
    bool constant = true;
    double sum = 0;
    for (const Group& g : groups)
      for (std::size_t r = g.begin; r < g.end; ++r) {
        sum += d.x[r * d.cols + c];
        constant = constant && d.x[r * d.cols + c] == first;
      }
    model.mean[c] = constant ? first : sum / static_cast<double>(n);
    if (constant) continue;  // scale 0, weight 0
    double var = 0;
    for (const Group& g : groups)
      for (std::size_t r = g.begin; r < g.end; ++r) {
        const double dev = d.x[r * d.cols + c] - model.mean[c];
        var += dev * dev;
      }
    model.scale[c] = std::sqrt(var / static_cast<double>(n));
    active.push_back(c);
  }
  const std::size_t k = active.size();
  if (k == 0) return model;  // every feature constant: all weights 0

  // z: the standardised active columns of the rows in some pair, compacted
  // (group by group); y: their outcomes.
  std::vector<double> z;
  std::vector<float> y;
  std::vector<Group> zgroups;
  z.reserve(n * k);
  for (const Group& g : groups) {
    const std::size_t begin = zgroups.empty() ? 0 : zgroups.back().end;
    zgroups.push_back({begin, begin + (g.end - g.begin)});
    for (std::size_t r = g.begin; r < g.end; ++r) {
      for (std::size_t c : active) z.push_back((d.x[r * d.cols + c] - model.mean[c]) / model.scale[c]);
      for (std::size_t obj = 0; obj < d.objectives; ++obj) y.push_back(outcome(r, obj));
    }
  }

  std::vector<double> s(n), a(n);
  auto loss = [&](std::span<const double> v, std::span<double> grad) {
    for (std::size_t i = 0; i < n; ++i) {
      double t = 0;
      for (std::size_t j = 0; j < k; ++j) t += z[i * k + j] * v[j];
      s[i] = t;
    }
    std::fill(a.begin(), a.end(), 0.0);
    double total = 0;
    for (std::size_t obj = 0; obj < d.objectives; ++obj) {
      if (!(o.objective_weights[obj] > 0) || pairs[obj] == 0) continue;
      const double c = o.objective_weights[obj] / static_cast<double>(pairs[obj]);
      double sum = 0;
      for (const Group& g : zgroups)
        for (std::size_t i = g.begin; i < g.end; ++i) {
          const float yi = y[i * d.objectives + obj];
          for (std::size_t j = g.begin; j < g.end; ++j) {
            if (!(yi > y[j * d.objectives + obj])) continue;
            double l, slope;
            pair_loss(s[i] - s[j], l, slope);
            sum += l;
            a[i] += c * slope;
            a[j] -= c * slope;
          }
        }
      total += c * sum;
    }
    // grad = z^T a + 2 l2 v
    for (std::size_t j = 0; j < k; ++j) grad[j] = 2 * o.l2 * v[j];
    for (std::size_t i = 0; i < n; ++i)
      if (a[i] != 0)
        for (std::size_t j = 0; j < k; ++j) grad[j] += a[i] * z[i * k + j];
    for (std::size_t j = 0; j < k; ++j) total += o.l2 * v[j] * v[j];
    return total;
  };

  std::vector<double> v(k, 0.0);
  detail::LbfgsOptions lo;
  lo.max_iterations = o.epochs;
  lo.first_step = o.learning_rate;
  detail::minimize_lbfgs(loss, v, lo, progress);
  for (std::size_t j = 0; j < k; ++j) model.weights[active[j]] = v[j] / model.scale[active[j]];
  return model;
}

}  // namespace funnel::fusion
