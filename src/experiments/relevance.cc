// `funnel experiment relevance`: see relevance.h. Per seed, the judged
// queries are split into folds (shuffle_for_folds, as `funnel experiment
// cv` splits them); per fold, everything is chosen on the training folds
// only and scored on the test fold:
//   - BM25 tuned: the BM25 grid point with the best mean nDCG@10 over the
//     training queries (for settings with nothing to train, that is the
//     pooled nDCG of any inner-fold split of them);
//   - RM3 tuned: the RM3 grid point on top of the tuned BM25, likewise;
//   - LambdaMART: trained on all but one inner fold, scored on that one;
//     the fusion weight with the best pooled inner nDCG@10 wins, then a
//     model trained on all training queries ranks the test fold;
//   - selected: the best of the three by those training estimates, or
//     BM25 with funnel's defaults when none beats it there.
#include "experiments/relevance.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "experiments/relevance_lists.h"
#include "experiments/report.h"
#include "funnel/error.h"
#include "funnel/metrics.h"
#include "funnel/train.h"
#include "recall/rm3.h"
#include "util/fs.h"

namespace funnel::experiments {
namespace fs = std::filesystem;
using nlohmann::json;

RelevanceOptions default_relevance_options() {
  RelevanceOptions o;
  o.lambdamart = rank::default_lambdamart_params();
  return o;
}

namespace {

// The columns of the report, in order.
const std::vector<std::string> kColumns = {"bm25", "bm25_tuned", "bm25_prf", "prf_tuned", "lambdamart", "selected"};

double mean_at(const std::vector<double>& v, const std::vector<std::size_t>& at) {
  double s = 0;
  for (auto i : at) s += v[i];
  return at.empty() ? 0 : s / static_cast<double>(at.size());
}

// The best configuration of `grid` by mean nDCG@10 over `at` (ties: the
// earlier one).
std::pair<LexConfig, double> best_config(LexicalRuns& runs, const std::vector<LexConfig>& grid,
                                         const std::vector<std::size_t>& at) {
  std::pair<LexConfig, double> best{grid[0], -1};
  for (const auto& c : grid) {
    const double v = mean_at(runs.ndcg(c), at);
    if (v > best.second + 1e-12) best = {c, v};
  }
  return best;
}

// nDCG@10 of query q's candidates ordered by the model fused with BM25 at
// each of `weights`.
std::vector<double> fused_ndcg(const fusion::GbdtModel& m, const rank::RankRows& r, const metrics::Judgments& judged,
                               const Corpus& corpus, const std::vector<double>& weights) {
  std::vector<double> out;
  for (double w : weights) out.push_back(metrics::ndcg_at_k(rank::lambdamart_order(m, r, w, corpus, 10), judged, 10));
  return out;
}

struct Context {
  const RelevanceOptions& o;
  const JudgedQueries& set;
  LexicalRuns& runs;
  const std::vector<rank::RankRows>& rows;
  LogFn log;
};

// One outer fold: the choices on `train` and every column's nDCG@10 on each
// query of `test` (written to per_query[column][query]).
json run_fold(const Context& c, const std::vector<std::size_t>& train, const std::vector<std::size_t>& test,
              std::map<std::string, std::vector<double>>& per_query) {
  const auto& grid_w = train::rank_fusion_grid();
  const LexConfig plain;
  LexConfig prf_default;
  prf_default.bm25.prf_docs = recall::kDefaultPrfDocs;
  const auto [bm25_best, bm25_est] = best_config(c.runs, c.runs.bm25_grid(), train);
  const auto [prf_best, prf_est] = best_config(c.runs, LexicalRuns::prf_grid(bm25_best), train);
  const double plain_est = mean_at(c.runs.ndcg(plain), train);
  // LambdaMART's fusion weight on the pooled inner folds.
  const int inner = std::max(2, std::min<int>(c.o.inner_folds, static_cast<int>(train.size())));
  std::vector<double> pooled(grid_w.size(), 0.0);
  for (int j = 0; j < inner; ++j) {
    std::vector<std::size_t> tr, dv;
    for (std::size_t i = 0; i < train.size(); ++i) (static_cast<int>(i % static_cast<std::size_t>(inner)) == j ? dv : tr).push_back(train[i]);
    const auto m = rank::fit_lambdamart(c.rows, tr, c.o.lambdamart);
    for (auto q : dv) {
      const auto v = fused_ndcg(m, c.rows[q], c.set.judged.at(c.set.ids[q]), c.set.ds.corpus, grid_w);
      for (std::size_t k = 0; k < v.size(); ++k) pooled[k] += v[k] / static_cast<double>(train.size());
    }
  }
  const std::size_t wi = static_cast<std::size_t>(std::max_element(pooled.begin(), pooled.end()) - pooled.begin());
  const double lm_est = pooled[wi];
  const auto model = rank::fit_lambdamart(c.rows, train, c.o.lambdamart);
  // Scores on the test fold.
  std::map<std::string, double> est = {{"bm25", plain_est}, {"bm25_tuned", bm25_est}, {"prf_tuned", prf_est}, {"lambdamart", lm_est}};
  std::string chosen = "bm25";
  for (const char* k : {"bm25_tuned", "prf_tuned", "lambdamart"})
    if (est[k] > est[chosen] + 1e-9) chosen = k;
  for (auto q : test) {
    per_query["bm25"][q] = c.runs.ndcg(plain)[q];
    per_query["bm25_tuned"][q] = c.runs.ndcg(bm25_best)[q];
    per_query["bm25_prf"][q] = c.runs.ndcg(prf_default)[q];
    per_query["prf_tuned"][q] = c.runs.ndcg(prf_best)[q];
    per_query["lambdamart"][q] = fused_ndcg(model, c.rows[q], c.set.judged.at(c.set.ids[q]), c.set.ds.corpus, {grid_w[wi]})[0];
    per_query["selected"][q] = per_query[chosen][q];
  }
  json imp = json::array();
  for (const auto& [name, v] : model.importance("total_gain"))
    if (imp.size() < 8) imp.push_back({name, v});
  json test_means = json::object();
  for (const auto& col : kColumns) {
    double s = 0;
    for (auto q : test) s += per_query[col][q];
    test_means[col] = s / static_cast<double>(test.size());
  }
  return {{"train_queries", train.size()}, {"test_queries", test.size()}, {"chosen", chosen},
          {"train_estimates", est}, {"bm25_tuned", bm25_best.to_json()}, {"prf_tuned", prf_best.to_json()},
          {"lambdamart_fusion_weight", grid_w[wi]}, {"lambdamart_importance", imp}, {"test_ndcg@10", test_means}};
}

// One seed: the folds, and each column's mean nDCG@10 over every judged
// query (each scored by the fold that held it out).
json run_seed(const Context& c, std::uint64_t seed) {
  std::vector<std::size_t> order(c.set.ids.size());
  {
    std::unordered_map<std::string, std::size_t> at;
    for (std::size_t i = 0; i < c.set.ids.size(); ++i) at[c.set.ids[i]] = i;
    const auto shuffled = shuffle_for_folds(c.set.ids, seed);
    for (std::size_t i = 0; i < shuffled.size(); ++i) order[i] = at.at(shuffled[i]);
  }
  std::map<std::string, std::vector<double>> per_query;
  for (const auto& col : kColumns) per_query[col].assign(c.set.ids.size(), 0.0);
  json folds = json::array();
  for (int f = 0; f < c.o.folds; ++f) {
    std::vector<std::size_t> train, test;
    for (std::size_t i = 0; i < order.size(); ++i) (static_cast<int>(i % static_cast<std::size_t>(c.o.folds)) == f ? test : train).push_back(order[i]);
    folds.push_back(run_fold(c, train, test, per_query));
    const json& r = folds.back();
    char buf[240];
    std::snprintf(buf, sizeof buf, "seed %llu fold %d: chose %s; test nDCG@10 BM25 %.4f, selected %.4f",
                  static_cast<unsigned long long>(seed), f + 1, r["chosen"].get<std::string>().c_str(),
                  r["test_ndcg@10"]["bm25"].get<double>(), r["test_ndcg@10"]["selected"].get<double>());
    c.log(buf);
  }
  json means = json::object();
  for (const auto& col : kColumns) {
    double s = 0;
    for (double v : per_query[col]) s += v;
    means[col] = s / static_cast<double>(per_query[col].size());
  }
  return {{"seed", seed}, {"ndcg@10", means}, {"folds", folds}};
}

std::string markdown(const RelevanceOptions& o, const JudgedQueries& set, const json& seeds) {
  std::ostringstream md;
  md << "# Relevance: `" << o.data << "`\n\n"
     << "- " << set.ids.size() << " judged queries, " << o.folds << "-fold cross-validation by query, split seeds";
  for (const auto& s : seeds) md << " " << s["seed"].get<std::uint64_t>();
  md << "\n- nDCG@10 of each judged query on the fold that held it out, mean over the queries\n"
     << "- LambdaMART: rank:ndcg over " << rank::LexicalFeatureSet::names().size() << " features, " << o.lambdamart.rounds
     << " rounds; candidates BM25 top " << o.depth << " + BM25+RM3 top " << o.depth << "; its BM25 fusion weight from "
     << o.inner_folds << " inner folds\n\n| seed |";
  for (const auto& col : kColumns) md << " " << col << " |";
  md << " selected - bm25 | chosen per fold |\n|---|";
  for (std::size_t i = 0; i <= kColumns.size(); ++i) md << "---|";
  md << "---|\n";
  std::map<std::string, std::vector<double>> by_col;
  std::vector<double> delta;
  for (const auto& s : seeds) {
    md << "| " << s["seed"].get<std::uint64_t>() << " |";
    for (const auto& col : kColumns) {
      const double v = s["ndcg@10"][col].get<double>();
      by_col[col].push_back(v);
      char buf[32];
      std::snprintf(buf, sizeof buf, " %.4f |", v);
      md << buf;
    }
    delta.push_back(s["ndcg@10"]["selected"].get<double>() - s["ndcg@10"]["bm25"].get<double>());
    char buf[32];
    std::snprintf(buf, sizeof buf, " %+.4f |", delta.back());
    md << buf;
    for (const auto& f : s["folds"]) md << " " << f["chosen"].get<std::string>();
    md << " |\n";
  }
  md << "| mean ± sd |";
  for (const auto& col : kColumns) md << " " << pm(by_col[col]) << " |";
  md << " " << pm(delta) << " | |\n";
  return md.str();
}

}  // namespace

void run_relevance(const RelevanceOptions& o) {
  auto log = [](const std::string& line) { std::fprintf(stderr, "relevance: %s\n", line.c_str()); };
  const fs::path data(o.data), out(o.out);
  if (!fs::is_directory(data)) throw Error(o.data + ": data folder not found");
  if (o.folds < 2) throw Error("--folds: at least 2");
  if (o.seeds.empty()) throw Error("--seeds: at least one seed");
  detail::check_output_not_input(out, data);
  if (fs::exists(out) && !fs::is_empty(out)) {
    if (!o.force) throw Error(o.out + ": exists and is not empty (pass --force to replace it)");
    if (!fs::exists(out / "relevance.json") && !fs::exists(out / "index-tw2"))
      throw Error(o.out + ": not a relevance folder (no relevance.json or index-tw2); refusing to replace it");
  }
  const JudgedQueries set = read_judged_queries(o.data, o.max_queries, log);
  if (set.ids.size() < static_cast<std::size_t>(o.folds) * 2)
    throw Error(o.data + ": " + std::to_string(set.ids.size()) + " judged queries, fewer than 2 x --folds");
  std::error_code ec;
  fs::remove_all(out, ec);
  fs::create_directories(out);
  LexicalRuns runs(set, out, log);
  log("candidates and features of " + std::to_string(set.ids.size()) + " queries");
  const auto rows = build_rank_rows(set, runs, o.depth, log);
  const Context c{o, set, runs, rows, log};
  json seeds = json::array();
  for (auto seed : o.seeds) seeds.push_back(run_seed(c, seed));
  const std::string md = markdown(o, set, seeds);
  const json res = {{"data", o.data}, {"queries", set.ids.size()}, {"folds", o.folds}, {"inner_folds", o.inner_folds},
                    {"depth", o.depth}, {"max_queries", o.max_queries}, {"features", rank::LexicalFeatureSet::names()},
                    {"columns", kColumns}, {"seeds", seeds}};
  write_text_file(out / "relevance.md", md);
  write_text_file(out / "relevance.json", res.dump(2) + "\n");
  if (o.json) std::printf("%s\n", res.dump(2).c_str());
  else std::printf("%s", md.c_str());
}

}  // namespace funnel::experiments
