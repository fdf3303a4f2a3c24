// What a final list is worth beyond relevance: its diversity and the
// simulated users' feedback to it (funnel/eval.h).
#include <algorithm>
#include <cmath>
#include <set>

#include "funnel/error.h"
#include "funnel/eval.h"
#include "rerank/rules_config.h"

namespace funnel {

namespace {

// The rules of the cascade's first rules stage, or the default.
rerank::RuleSet counted_rules(const Pipeline& p, std::string& label) {
  for (std::size_t s = 0; s < p.size(); ++s)
    if (p.stage_types()[s] == "rules") {
      label = "stage '" + p.stage_names()[s] + "'";
      return rerank::parse_rule_set(p.stage_info(s), p.index(), "stage '" + p.stage_names()[s] + "'");
    }
  label = "default: author max 1 per 3 positions";
  return rerank::default_rule_set();
}

}  // namespace

DiversityResult list_diversity(const Pipeline& p, const std::vector<std::vector<std::uint32_t>>& lists, std::size_t k) {
  DiversityResult d;
  d.k = k;
  const Index& index = p.index();
  const rerank::RuleSet rules = counted_rules(p, d.rules);
  const auto& store = index.embeddings();
  const std::size_t dim = store ? static_cast<std::size_t>(store->spec().heads) * store->spec().dim : 0;
  const std::size_t categories = index.category_names().size();
  double ild_sum = 0;
  std::size_t ild_lists = 0;
  std::vector<float> vecs;
  for (const auto& full : lists) {
    const std::size_t n = std::min(k, full.size());
    if (n == 0) continue;
    const std::span<const std::uint32_t> rows(full.data(), n);
    ++d.lists;
    std::vector<std::uint32_t> authors, cats;
    rerank::rule_fields(index, rows, authors, cats);
    d.author_coverage += static_cast<double>(std::set<std::uint32_t>(authors.begin(), authors.end()).size()) / static_cast<double>(n);
    d.category_coverage += static_cast<double>(std::set<std::uint32_t>(cats.begin(), cats.end()).size()) /
                           static_cast<double>(std::min(n, std::max<std::size_t>(categories, 1)));
    std::vector<std::size_t> seq(n);
    for (std::size_t i = 0; i < n; ++i) seq[i] = i;
    d.rule_violations += static_cast<double>(rerank::count_violations({authors, cats}, seq, rules.windows, rules.caps));
    if (dim && n >= 2) {
      vecs.assign(n * dim, 0.0f);
      for (std::size_t i = 0; i < n; ++i) {
        store->decode_row(rows[i], std::span<float>(vecs.data() + i * dim, dim));
        double norm = 0;
        for (std::size_t j = 0; j < dim; ++j) norm += static_cast<double>(vecs[i * dim + j]) * vecs[i * dim + j];
        norm = std::sqrt(norm);
        for (std::size_t j = 0; j < dim; ++j) vecs[i * dim + j] = norm > 0 ? static_cast<float>(vecs[i * dim + j] / norm) : 0.0f;
      }
      double sum = 0;
      for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = a + 1; b < n; ++b) {
          double dot = 0;
          for (std::size_t j = 0; j < dim; ++j) dot += static_cast<double>(vecs[a * dim + j]) * vecs[b * dim + j];
          sum += 1 - dot;
        }
      ild_sum += sum / static_cast<double>(n * (n - 1) / 2);
      ++ild_lists;
    }
  }
  if (d.lists) {
    const double L = static_cast<double>(d.lists);
    d.author_coverage /= L;
    d.category_coverage /= L;
    d.rule_violations /= L;
  }
  if (ild_lists) d.ild = ild_sum / static_cast<double>(ild_lists);
  return d;
}

SimulatedResult simulate_lists(const Simulator& sim, const std::function<std::vector<std::uint32_t>(std::uint32_t)>& final_rows,
                               const std::string& split, std::size_t requests, std::uint64_t seed,
                               const RewardSpec* spec) {
  if (requests == 0) throw Error("simulate: requests must be >= 1");
  TrafficOptions o;
  o.split = split;
  o.requests = requests;
  o.seed = seed;
  const auto traffic = sim.traffic(o);
  SimulatedResult r;
  r.outcome = sim.serve(traffic, 1, [&](const SimRequest& req) { return final_rows(req.query); })[0];
  r.requests = r.outcome.requests;
  r.click = r.outcome.per_request("click");
  r.watch = r.outcome.per_request("watch");
  r.like = r.outcome.per_request("like");
  r.share = r.outcome.per_request("share");
  r.follow = r.outcome.per_request("follow");
  const RewardSpec fallback;
  RewardSpec s = spec ? *spec : fallback;
  if (!spec) s.baseline = SimOutcome{};
  r.constrained = s.baseline.requests > 0;
  r.reward = reward(s, r.outcome);
  return r;
}

}  // namespace funnel
