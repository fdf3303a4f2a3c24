// Offline evaluation of a cascade on judged queries: what each stage keeps
// (Recall@stage), what it costs (latency), and the final ranking quality.
#pragma once

#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/data.h"
#include "funnel/pipeline.h"
#include "funnel/simulator.h"

namespace funnel {

struct EvalOptions {
  std::size_t k = 1000;      // results requested per query (final list depth)
  ProgressFn progress;       // (queries done, queries in all)
  // Logged impressions of the evaluated queries (optional): scoring stages
  // (Stage::scores) get click AUC and GAUC (per request) on them.
  const std::vector<Impression>* impressions = nullptr;
  // Human labels of the evaluated queries (optional): label AUC (grade >= 2
  // against lower grades) for scoring stages.
  const Qrels* human_labels = nullptr;
  // Diversity of the top `diversity_k` of each final list (always measured).
  std::size_t diversity_k = 10;
  // Simulated live traffic (optional): `sim_requests` requests of the
  // simulator's users with queries of split `sim_split`, each shown the
  // cascade's final list of its query; the reward uses `reward` (its
  // baseline, when set, for the constraint penalties).
  const Simulator* simulator = nullptr;
  std::string sim_split = "test";
  std::size_t sim_requests = 20000;
  std::uint64_t sim_seed = 1;
  const RewardSpec* reward = nullptr;
};

// Diversity of final lists, means over lists, each cut to its first k:
//   ild                intra-list diversity: mean over pairs of 1 - cosine of
//                      the docs' stored embeddings (NaN without embeddings)
//   author_coverage    distinct authors / list length
//   category_coverage  distinct categories / min(list length, categories in the index)
//   rule_violations    rerank::count_violations under the cascade's first
//                      rules stage, or the default rule (no author twice
//                      within 3 positions) without one
struct DiversityResult {
  std::size_t k = 10, lists = 0;
  double ild = std::numeric_limits<double>::quiet_NaN();
  double author_coverage = 0, category_coverage = 0, rule_violations = 0;
  std::string rules;  // which rules were counted
};
DiversityResult list_diversity(const Pipeline& pipeline, const std::vector<std::vector<std::uint32_t>>& lists,
                               std::size_t k);

// Feedback of simulated traffic to the final lists, per request.
struct SimulatedResult {
  std::size_t requests = 0;
  double reward = 0, click = 0, watch = 0, like = 0, share = 0, follow = 0;
  bool constrained = false;  // the reward had a baseline (constraint penalties applied)
  SimOutcome outcome;        // the sums
};
// Serves `options.sim_requests` simulated requests: each request's list is
// final_rows(query index of the world). Deterministic in options.sim_seed.
SimulatedResult simulate_lists(const Simulator& sim, const std::function<std::vector<std::uint32_t>(std::uint32_t)>& final_rows,
                               const std::string& split, std::size_t requests, std::uint64_t seed,
                               const RewardSpec* reward);

// One row of the per-stage table. Means are over evaluated queries.
struct StageEval {
  std::string name;
  double candidates = 0;  // mean candidates the stage kept
  double recall = 0;      // mean share of the query's relevant docs still present after the stage
  double p50_ms = 0, p99_ms = 0;
  // Scoring stages only (NaN otherwise or without data).
  double auc = std::numeric_limits<double>::quiet_NaN();
  double gauc = std::numeric_limits<double>::quiet_NaN();
  double label_auc = std::numeric_limits<double>::quiet_NaN();
};

struct EvalResult {
  std::size_t queries = 0;   // queries evaluated (those with >= 1 relevant doc)
  std::vector<StageEval> stages;
  double total_p50_ms = 0, total_p99_ms = 0;
  // Final-list metrics, means over queries (trec_eval conventions).
  double ndcg10 = 0, map = 0, mrr = 0, recall100 = 0, recall1000 = 0;
  std::vector<RunEntry> run;  // the final lists, for a TREC run file
  // Order consistency of a pre-ranker with the ranker after it, by the
  // roles the stages declare (Stage::role): the first rank stage that has a
  // pre-rank stage before it, and the last pre-rank stage before that. Per
  // evaluated query, the rows the pre-ranker kept are scored by the ranker
  // (Pipeline::score_rows) and compared with the pre-ranker's scores as
  // served: of the pairs the ranker orders strictly, the share the
  // pre-ranker orders the same way (ties in the pre-ranker count half;
  // metrics::order_consistency_counts with reference = the ranker's scores).
  // consistency_prerank_rank: mean over queries of the per-query share
  // (queries where the ranker orders no pair strictly are skipped);
  // consistency_prerank_rank_overall: pooled over all pairs of all queries.
  // NaN when the cascade has no such pair of stages or no pair was ordered.
  double consistency_prerank_rank = std::numeric_limits<double>::quiet_NaN();
  double consistency_prerank_rank_overall = std::numeric_limits<double>::quiet_NaN();
  std::size_t consistency_queries = 0;  // queries in the per-query mean
  std::string consistency_stages;       // "PRERANK_NAME->RANK_NAME", "" without such a pair
  DiversityResult diversity;
  std::optional<SimulatedResult> simulated;  // with EvalOptions::simulator
};

// Runs every query of `queries` that has a relevant doc in `qrels` through
// `pipeline`. Queries without judgments are skipped.
EvalResult evaluate(const Pipeline& pipeline, const std::vector<Query>& queries, const Qrels& qrels,
                    const EvalOptions& options);

// {"queries", "stages": [{"name","candidates","recall","p50_ms","p99_ms"}],
//  "metrics": {"ndcg@10","map","mrr","recall@100","recall@1000",
//              "diversity": {"k", "ild"?, "author_coverage", "category_coverage", "rule_violations", "rules"},
//              "simulated"?: {"requests", "reward", "click", "watch", "like", "share", "follow", "constrained"}}}
// Scoring stages add "auc", "gauc", "label_auc" when computed (not NaN). With
// a pre-rank -> rank pair: top-level "consistency_stages", and under "metrics"
// "consistency_prerank_rank" and "consistency_prerank_rank_overall" when
// computed (the keys are absent otherwise, never null).
nlohmann::json eval_to_json(const EvalResult& r);
// A fixed-width text table for terminals (with an "order consistency" line
// when the cascade has a pre-rank -> rank pair).
std::string eval_to_table(const EvalResult& r);
// The same as a markdown table (and the same consistency line).
std::string eval_to_markdown(const EvalResult& r);

// Head report of the cascade's first "prerank" stage (docs/techniques.md,
// late interaction): the mean cosine between a query's own heads, over up
// to 1,000 of `queries` that `qrels` judges, and between a doc's own heads,
// over up to 1,000 docs spread over the index's embedding store:
// {"stage", "queries", "docs", "query_head_cosine": [[...]],
// "doc_head_cosine": [[...]]}. null when the cascade has no prerank stage or
// the index no embeddings. Throws funnel::Error if the models cannot load.
nlohmann::json prerank_head_report(const Index& index, const nlohmann::json& cascade, const std::vector<Query>& queries,
                                   const Qrels& qrels);
// The same as text lines for a terminal or a report.
std::string head_report_text(const nlohmann::json& report);

}  // namespace funnel
