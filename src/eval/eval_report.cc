// EvalResult as JSON, a terminal table and markdown.
#include <cmath>
#include <cstdio>

#include "funnel/eval.h"

namespace funnel {
using nlohmann::json;

namespace {
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

}  // namespace

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
