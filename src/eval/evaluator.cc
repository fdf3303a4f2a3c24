#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>

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
std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}
// "0.8123", or "n/a" for NaN.
std::string fmt_or_na(double x) { return std::isnan(x) ? "n/a" : fmt("%.4f", x); }

// The one line of order consistency after the tables; "" without the pair.
std::string consistency_line(const EvalResult& r) {
  if (r.consistency_stages.empty()) return "";
  return "order consistency " + r.consistency_stages + ": " + fmt_or_na(r.consistency_prerank_rank) +
         " per request (mean), " + fmt_or_na(r.consistency_prerank_rank_overall) + " over all pairs\n";
}

// The (prerank, rank) stage indices for order consistency: the first "rank"
// stage that has a "prerank" stage before it, and the last "prerank" before
// it. False if the cascade has no such pair.
bool consistency_pair(const std::vector<std::string>& types, std::size_t& prerank, std::size_t& rank) {
  bool seen = false;
  for (std::size_t s = 0; s < types.size(); ++s) {
    if (types[s] == "prerank") {
      prerank = s;
      seen = true;
    } else if (types[s] == "rank" && seen) {
      rank = s;
      return true;
    }
  }
  return false;
}
}  // namespace

bool is_scoring_stage_type(std::string_view type) { return type == "prerank" || type == "rank"; }

EvalResult evaluate(const Pipeline& pipeline, const std::vector<Query>& queries, const Qrels& qrels,
                    const EvalOptions& options) {
  EvalResult res;
  const auto names = pipeline.stage_names();
  const std::size_t S = names.size();
  std::vector<std::vector<double>> ms(S);
  std::vector<double> total_ms, kept(S, 0), recall(S, 0);
  const Index& index = pipeline.index();
  const auto types = pipeline.stage_types();
  std::size_t cons_pre = 0, cons_rank = 0;
  const bool want_consistency = consistency_pair(types, cons_pre, cons_rank);
  if (want_consistency) res.consistency_stages = names[cons_pre] + "->" + names[cons_rank];
  double cons_sum = 0, cons_agreeing = 0, cons_pairs = 0;
  std::size_t cons_n = 0;

  std::vector<const Query*> todo;
  for (const Query& q : queries) {
    auto it = qrels.find(q.id);
    if (it == qrels.end()) continue;
    bool any = std::any_of(it->second.begin(), it->second.end(), [](auto& p) { return p.second > 0; });
    if (any) todo.push_back(&q);
  }
  std::size_t done = 0;
  for (const Query* q : todo) {
    const metrics::Judgments& judged = qrels.at(q->id);
    std::size_t relevant = 0;
    for (auto& [d, g] : judged) relevant += g > 0;

    Request req;
    req.query = q->text;
    req.k = options.k;
    req.trace_survivors = true;
    Response resp = pipeline.run(req);

    for (std::size_t s = 0; s < S; ++s) {
      const StageTrace& tr = resp.trace[s];
      ms[s].push_back(tr.ms);
      kept[s] += static_cast<double>(tr.out);
      std::size_t found = 0;
      for (std::uint32_t row : tr.survivors) {
        auto it = judged.find(index.doc_id(row));
        found += it != judged.end() && it->second > 0;
      }
      recall[s] += static_cast<double>(found) / static_cast<double>(relevant);
    }
    total_ms.push_back(resp.total_ms);

    if (want_consistency) {
      const std::vector<std::uint32_t>& rows = resp.trace[cons_pre].survivors;
      if (rows.size() >= 2) {
        // The pre-ranker's scores as served (fused with recall scores,
        // which score_rows cannot see); the ranker's for the same rows.
        const std::vector<double>& pre = resp.trace[cons_pre].survivor_scores;
        const auto rank = pipeline.score_rows(cons_rank, q->text, rows);
        const auto c = metrics::order_consistency_counts(rank, pre);
        if (c.pairs > 0) {
          cons_sum += c.agreeing / static_cast<double>(c.pairs);
          cons_agreeing += c.agreeing;
          cons_pairs += static_cast<double>(c.pairs);
          ++cons_n;
        }
      }
    }

    std::vector<std::string> ranked;
    RunEntry entry{q->id, {}};
    for (const auto& item : resp.items) {
      ranked.push_back(item.doc_id);
      entry.ranked.push_back({item.doc_id, item.score});
    }
    res.ndcg10 += metrics::ndcg_at_k(ranked, judged, 10);
    res.map += metrics::average_precision(ranked, judged, 1000);
    res.mrr += metrics::reciprocal_rank(ranked, judged);
    res.recall100 += metrics::recall_at_k(ranked, judged, 100);
    res.recall1000 += metrics::recall_at_k(ranked, judged, 1000);
    res.run.push_back(std::move(entry));
    if (options.progress && (++done % 100 == 0 || done == todo.size())) options.progress(done, todo.size());
  }
  const double n = static_cast<double>(std::max<std::size_t>(todo.size(), 1));
  res.queries = todo.size();
  for (double* m : {&res.ndcg10, &res.map, &res.mrr, &res.recall100, &res.recall1000}) *m /= n;
  for (std::size_t s = 0; s < S; ++s)
    res.stages.push_back({names[s], kept[s] / n, recall[s] / n, percentile(ms[s], 0.5), percentile(ms[s], 0.99)});
  if (cons_n > 0) {
    res.consistency_prerank_rank = cons_sum / static_cast<double>(cons_n);
    res.consistency_prerank_rank_overall = cons_agreeing / cons_pairs;
  }
  res.consistency_queries = cons_n;
  // Offline AUCs of the scoring stages on logs and human labels.
  std::unordered_map<std::string, const Query*> by_id;
  for (const auto* q : todo) by_id[q->id] = q;
  std::unordered_map<std::string, std::uint32_t> row_of;
  if (options.impressions || options.human_labels)
    for (std::uint32_t r = 0; r < index.size(); ++r) row_of.emplace(index.doc_id(r), r);
  for (std::size_t s = 0; s < S; ++s) {
    if (!is_scoring_stage_type(types[s])) continue;
    if (options.impressions) {
      std::unordered_map<std::string, std::vector<const Impression*>> by_request;
      for (const auto& im : *options.impressions)
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
        if (rows.empty()) continue;
        auto sc = pipeline.score_rows(s, by_id.at(list.front()->query_id)->text, rows);
        for (std::size_t i = 0; i < rows.size(); ++i) {
          scores.push_back(static_cast<float>(sc[i]));
          labels.push_back(lab[i]);
          groups.push_back(g);
        }
      }
      if (!scores.empty()) {
        res.stages[s].auc = metrics::auc(scores, labels);
        res.stages[s].gauc = metrics::gauc(scores, labels, groups);
      }
    }
    if (options.human_labels) {
      std::vector<float> scores, labels;
      for (const auto& [qid, judged] : *options.human_labels) {
        auto q = by_id.find(qid);
        if (q == by_id.end()) continue;
        std::vector<std::uint32_t> rows;
        std::vector<float> lab;
        for (const auto& [doc, grade] : judged)
          if (auto it = row_of.find(doc); it != row_of.end()) {
            rows.push_back(it->second);
            lab.push_back(grade >= 2 ? 1.0f : 0.0f);
          }
        if (rows.empty()) continue;
        auto sc = pipeline.score_rows(s, q->second->text, rows);
        for (std::size_t i = 0; i < rows.size(); ++i) {
          scores.push_back(static_cast<float>(sc[i]));
          labels.push_back(lab[i]);
        }
      }
      if (!scores.empty()) res.stages[s].label_auc = metrics::auc(scores, labels);
    }
  }
  res.total_p50_ms = percentile(total_ms, 0.5);
  res.total_p99_ms = percentile(total_ms, 0.99);
  return res;
}

json eval_to_json(const EvalResult& r) {
  json stages = json::array();
  for (const auto& s : r.stages)
  {
    json o = {{"name", s.name}, {"candidates", s.candidates}, {"recall", s.recall},
              {"p50_ms", s.p50_ms}, {"p99_ms", s.p99_ms}};
    if (!std::isnan(s.auc)) o["auc"] = s.auc;
    if (!std::isnan(s.gauc)) o["gauc"] = s.gauc;
    if (!std::isnan(s.label_auc)) o["label_auc"] = s.label_auc;
    stages.push_back(o);
  }
  json out = {{"queries", r.queries},
              {"stages", stages},
              {"total", {{"p50_ms", r.total_p50_ms}, {"p99_ms", r.total_p99_ms}}},
              {"metrics",
               {{"ndcg@10", r.ndcg10}, {"map", r.map}, {"mrr", r.mrr}, {"recall@100", r.recall100},
                {"recall@1000", r.recall1000}}}};
  // Keys only when computed (like the stages' AUCs): never null.
  if (!r.consistency_stages.empty()) out["consistency_stages"] = r.consistency_stages;
  if (!std::isnan(r.consistency_prerank_rank))
    out["metrics"]["consistency_prerank_rank"] = r.consistency_prerank_rank;
  if (!std::isnan(r.consistency_prerank_rank_overall))
    out["metrics"]["consistency_prerank_rank_overall"] = r.consistency_prerank_rank_overall;
  return out;
}

std::string eval_to_table(const EvalResult& r) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-14s %12s %10s %10s %10s\n", "stage", "candidates", "recall", "p50 ms",
                "p99 ms");
  out += line;
  for (const auto& s : r.stages) {
    std::snprintf(line, sizeof line, "%-14s %12.1f %10.4f %10.3f %10.3f\n", s.name.c_str(), s.candidates,
                  s.recall, s.p50_ms, s.p99_ms);
    out += line;
  }
  std::snprintf(line, sizeof line, "%-14s %12s %10s %10.3f %10.3f\n", "total", "", "", r.total_p50_ms,
                r.total_p99_ms);
  out += line;
  for (const auto& s : r.stages)
    if (!std::isnan(s.auc) || !std::isnan(s.label_auc)) {
      std::snprintf(line, sizeof line, "%-14s click AUC %.4f  GAUC %.4f  label AUC %.4f\n", s.name.c_str(), s.auc,
                    s.gauc, s.label_auc);
      out += line;
    }
  out += "\n";
  std::snprintf(line, sizeof line,
                "queries %zu   nDCG@10 %.4f   MAP %.4f   MRR %.4f   Recall@100 %.4f   Recall@1000 %.4f\n",
                r.queries, r.ndcg10, r.map, r.mrr, r.recall100, r.recall1000);
  out += line;
  out += consistency_line(r);
  return out;
}

std::string eval_to_markdown(const EvalResult& r) {
  std::string out = "| stage | candidates | Recall@stage | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|\n";
  for (const auto& s : r.stages)
    out += "| " + s.name + " | " + fmt("%.1f", s.candidates) + " | " + fmt("%.4f", s.recall) + " | " +
           fmt("%.3f", s.p50_ms) + " | " + fmt("%.3f", s.p99_ms) + " |\n";
  out += "| total | | | " + fmt("%.3f", r.total_p50_ms) + " | " + fmt("%.3f", r.total_p99_ms) + " |\n\n";
  out += "| queries | nDCG@10 | MAP | MRR | Recall@100 | Recall@1000 |\n|---:|---:|---:|---:|---:|---:|\n";
  out += "| " + std::to_string(r.queries) + " | " + fmt("%.4f", r.ndcg10) + " | " + fmt("%.4f", r.map) + " | " +
         fmt("%.4f", r.mrr) + " | " + fmt("%.4f", r.recall100) + " | " + fmt("%.4f", r.recall1000) + " |\n";
  if (!r.consistency_stages.empty()) {
    out += "\n";
    out += consistency_line(r);
  }
  return out;
}

}  // namespace funnel
