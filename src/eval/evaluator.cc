#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "funnel/eval.h"
#include "funnel/metrics.h"

namespace funnel {
using nlohmann::json;

namespace {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest-rank percentile: the smallest value with at least p of the mass.
  auto idx = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(idx, 1, v.size()) - 1];
}

// The (pre-rank, rank) stage indices for order consistency, by the roles
// the stages declare: the first rank stage that has a pre-rank stage before
// it, and the last pre-rank stage before it. False if there is no such pair.
bool consistency_pair(const Pipeline& p, std::size_t& first, std::size_t& second) {
  bool seen = false;
  for (std::size_t s = 0; s < p.size(); ++s) {
    if (p.stage_role(s) == StageRole::kPrerank) {
      first = s;
      seen = true;
    } else if (p.stage_role(s) == StageRole::kRank && seen) {
      second = s;
      return true;
    }
  }
  return false;
}

// Running sums of the per-stage table and the final-list metrics.
struct Accumulator {
  std::vector<std::vector<double>> ms;  // per stage, per query
  std::vector<double> kept, recall, total_ms;
  double ndcg10 = 0, map = 0, mrr = 0, recall100 = 0, recall1000 = 0;
  double cons_sum = 0, cons_agreeing = 0, cons_pairs = 0;
  std::size_t cons_n = 0;
  explicit Accumulator(std::size_t stages) : ms(stages), kept(stages, 0), recall(stages, 0) {}
};

void add_stages(const Index& index, const Response& resp, const metrics::Judgments& judged, Accumulator& acc) {
  std::size_t relevant = 0;
  for (auto& [d, g] : judged) relevant += g > 0;
  for (std::size_t s = 0; s < resp.trace.size(); ++s) {
    const StageTrace& tr = resp.trace[s];
    acc.ms[s].push_back(tr.ms);
    acc.kept[s] += static_cast<double>(tr.out);
    std::size_t found = 0;
    for (std::uint32_t row : tr.survivors) {
      auto it = judged.find(index.doc_id(row));
      found += it != judged.end() && it->second > 0;
    }
    acc.recall[s] += static_cast<double>(found) / static_cast<double>(relevant);
  }
  acc.total_ms.push_back(resp.total_ms);
}

// The first stage's scores of its survivors as served (fused with recall
// scores, which score_rows cannot see) against the second stage's scores of
// the same rows.
void add_consistency(const Pipeline& p, std::size_t first, std::size_t second, const std::string& query,
                     const Response& resp, Accumulator& acc) {
  const std::vector<std::uint32_t>& rows = resp.trace[first].survivors;
  if (rows.size() < 2) return;
  const auto ref = p.score_rows(second, query, rows);
  const auto c = metrics::order_consistency_counts(ref, resp.trace[first].survivor_scores);
  if (c.pairs == 0) return;
  acc.cons_sum += c.agreeing / static_cast<double>(c.pairs);
  acc.cons_agreeing += c.agreeing;
  acc.cons_pairs += static_cast<double>(c.pairs);
  ++acc.cons_n;
}

RunEntry add_final_list(const Query& q, const Response& resp, const metrics::Judgments& judged, Accumulator& acc) {
  std::vector<std::string> ranked;
  RunEntry entry{q.id, {}};
  for (const auto& item : resp.items) {
    ranked.push_back(item.doc_id);
    entry.ranked.push_back({item.doc_id, item.score});
  }
  acc.ndcg10 += metrics::ndcg_at_k(ranked, judged, 10);
  acc.map += metrics::average_precision(ranked, judged, 1000);
  acc.mrr += metrics::reciprocal_rank(ranked, judged);
  acc.recall100 += metrics::recall_at_k(ranked, judged, 100);
  acc.recall1000 += metrics::recall_at_k(ranked, judged, 1000);
  return entry;
}

// One scoring stage's scores of `rows` for `query`, appended with their labels and group.
void add_scored(const Pipeline& p, std::size_t stage, const std::string& query, const std::vector<std::uint32_t>& rows,
                const std::vector<float>& labels, std::uint64_t group, std::vector<float>& scores_out,
                std::vector<float>& labels_out, std::vector<std::uint64_t>* groups_out) {
  const auto sc = p.score_rows(stage, query, rows);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    scores_out.push_back(static_cast<float>(sc[i]));
    labels_out.push_back(labels[i]);
    if (groups_out) groups_out->push_back(group);
  }
}

// Click AUC and GAUC (per request) of a scoring stage on the logged
// impressions of the evaluated queries.
void click_aucs(const Pipeline& p, std::size_t stage, const std::vector<Impression>& impressions,
                const std::unordered_map<std::string, const Query*>& by_id,
                const std::unordered_map<std::string, std::uint32_t>& row_of, StageEval& out) {
  std::unordered_map<std::string, std::vector<const Impression*>> by_request;
  for (const auto& im : impressions)
    if (by_id.count(im.query_id)) by_request[im.request_id].push_back(&im);
  std::vector<std::string> rids;
  for (auto& [rid, v] : by_request) rids.push_back(rid);
  std::sort(rids.begin(), rids.end());
  std::vector<float> scores, labels;
  std::vector<std::uint64_t> groups;
  for (std::size_t g = 0; g < rids.size(); ++g) {
    const auto& list = by_request[rids[g]];
    std::vector<std::uint32_t> rows;
    std::vector<float> lab;
    for (const auto* im : list)
      if (auto it = row_of.find(im->doc_id); it != row_of.end()) {
        rows.push_back(it->second);
        lab.push_back(im->click ? 1.0f : 0.0f);
      }
    if (!rows.empty()) add_scored(p, stage, by_id.at(list.front()->query_id)->text, rows, lab, g, scores, labels, &groups);
  }
  if (scores.empty()) return;
  out.auc = metrics::auc(scores, labels);
  out.gauc = metrics::gauc(scores, labels, groups);
}

// Label AUC of a scoring stage: human grade >= 2 against lower grades.
void label_auc(const Pipeline& p, std::size_t stage, const Qrels& human,
               const std::unordered_map<std::string, const Query*>& by_id,
               const std::unordered_map<std::string, std::uint32_t>& row_of, StageEval& out) {
  std::vector<float> scores, labels;
  for (const auto& [qid, judged] : human) {
    auto q = by_id.find(qid);
    if (q == by_id.end()) continue;
    std::vector<std::uint32_t> rows;
    std::vector<float> lab;
    for (const auto& [doc, grade] : judged)
      if (auto it = row_of.find(doc); it != row_of.end()) {
        rows.push_back(it->second);
        lab.push_back(grade >= 2 ? 1.0f : 0.0f);
      }
    if (!rows.empty()) add_scored(p, stage, q->second->text, rows, lab, 0, scores, labels, nullptr);
  }
  if (!scores.empty()) out.label_auc = metrics::auc(scores, labels);
}

}  // namespace

EvalResult evaluate(const Pipeline& pipeline, const std::vector<Query>& queries, const Qrels& qrels,
                    const EvalOptions& options) {
  EvalResult res;
  const auto names = pipeline.stage_names();
  const std::size_t S = names.size();
  const Index& index = pipeline.index();
  std::size_t cons_first = 0, cons_second = 0;
  const bool want_consistency = consistency_pair(pipeline, cons_first, cons_second);
  if (want_consistency) res.consistency_stages = names[cons_first] + "->" + names[cons_second];

  std::vector<const Query*> todo;
  for (const Query& q : queries) {
    auto it = qrels.find(q.id);
    if (it == qrels.end()) continue;
    if (std::any_of(it->second.begin(), it->second.end(), [](auto& p) { return p.second > 0; })) todo.push_back(&q);
  }
  Accumulator acc(S);
  std::size_t done = 0;
  std::vector<std::vector<std::uint32_t>> finals;  // each query's final list
  std::unordered_map<std::string, std::size_t> final_of;  // query id -> index into finals
  for (const Query* q : todo) {
    const metrics::Judgments& judged = qrels.at(q->id);
    Request req;
    req.query = q->text;
    req.k = options.k;
    req.trace_survivors = true;
    const Response resp = pipeline.run(req);
    add_stages(index, resp, judged, acc);
    if (want_consistency) add_consistency(pipeline, cons_first, cons_second, q->text, resp, acc);
    res.run.push_back(add_final_list(*q, resp, judged, acc));
    final_of[q->id] = finals.size();
    finals.emplace_back();
    for (const auto& item : resp.items) finals.back().push_back(item.row);
    if (options.progress && (++done % 100 == 0 || done == todo.size())) options.progress(done, todo.size());
  }
  const double n = static_cast<double>(std::max<std::size_t>(todo.size(), 1));
  res.queries = todo.size();
  res.ndcg10 = acc.ndcg10 / n;
  res.map = acc.map / n;
  res.mrr = acc.mrr / n;
  res.recall100 = acc.recall100 / n;
  res.recall1000 = acc.recall1000 / n;
  for (std::size_t s = 0; s < S; ++s)
    res.stages.push_back({names[s], acc.kept[s] / n, acc.recall[s] / n, percentile(acc.ms[s], 0.5),
                          percentile(acc.ms[s], 0.99)});
  if (acc.cons_n > 0) {
    res.consistency_prerank_rank = acc.cons_sum / static_cast<double>(acc.cons_n);
    res.consistency_prerank_rank_overall = acc.cons_agreeing / acc.cons_pairs;
  }
  res.consistency_queries = acc.cons_n;
  res.total_p50_ms = percentile(acc.total_ms, 0.5);
  res.total_p99_ms = percentile(acc.total_ms, 0.99);
  res.diversity = list_diversity(pipeline, finals, options.diversity_k);
  if (options.simulator) {
    // Each simulated request sees its query's final list; a query the
    // evaluation skipped (no judged relevant doc) runs now.
    const World& world = options.simulator->world();
    res.simulated = simulate_lists(
        *options.simulator,
        [&](std::uint32_t qi) {
          const Query& q = world.queries.at(qi);
          auto it = final_of.find(q.id);
          if (it == final_of.end()) {
            Request req;
            req.query = q.text;
            req.k = options.k;
            const Response resp = pipeline.run(req);
            final_of[q.id] = finals.size();
            finals.emplace_back();
            for (const auto& item : resp.items) finals.back().push_back(item.row);
            it = final_of.find(q.id);
          }
          return finals[it->second];
        },
        options.sim_split, options.sim_requests, options.sim_seed, options.reward);
  }

  // Offline AUCs of the scoring stages on logs and human labels.
  if (!options.impressions && !options.human_labels) return res;
  std::unordered_map<std::string, const Query*> by_id;
  for (const auto* q : todo) by_id[q->id] = q;
  std::unordered_map<std::string, std::uint32_t> row_of;
  for (std::uint32_t r = 0; r < index.size(); ++r) row_of.emplace(index.doc_id(r), r);
  for (std::size_t s = 0; s < S; ++s) {
    if (!pipeline.stage_scores(s)) continue;
    if (options.impressions) click_aucs(pipeline, s, *options.impressions, by_id, row_of, res.stages[s]);
    if (options.human_labels) label_auc(pipeline, s, *options.human_labels, by_id, row_of, res.stages[s]);
  }
  return res;
}

}  // namespace funnel
