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

// The diversity line, and the simulated-traffic line when measured.
std::string list_quality_lines(const EvalResult& r) {
  const auto& d = r.diversity;
  std::string out = "diversity of the top " + std::to_string(d.k) + ": ILD " + fmt_or_na(d.ild) + ", author coverage " +
                    fmt("%.4f", d.author_coverage) + ", category coverage " + fmt("%.4f", d.category_coverage) +
                    ", rule violations " + fmt("%.3f", d.rule_violations) + " per list (" + d.rules + ")\n";
  if (r.simulated) {
    const auto& s = *r.simulated;
    out += "simulated traffic (" + std::to_string(s.requests) + " requests), per request: reward " + fmt("%.4f", s.reward) +
           (s.constrained ? "" : " (no baseline: watch only)") + ", click " + fmt("%.4f", s.click) + ", watch " +
           fmt("%.4f", s.watch) + ", like " + fmt("%.4f", s.like) + ", share " + fmt("%.4f", s.share) + ", follow " +
           fmt("%.4f", s.follow) + "\n";
  }
  return out;
}

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
  const auto& d = r.diversity;
  json div = {{"k", d.k}, {"author_coverage", d.author_coverage}, {"category_coverage", d.category_coverage},
              {"rule_violations", d.rule_violations}, {"rules", d.rules}};
  if (!std::isnan(d.ild)) div["ild"] = d.ild;
  out["metrics"]["diversity"] = div;
  if (r.simulated) {
    const auto& s = *r.simulated;
    out["metrics"]["simulated"] = {{"requests", s.requests}, {"reward", s.reward}, {"click", s.click},
                                   {"watch", s.watch}, {"like", s.like}, {"share", s.share},
                                   {"follow", s.follow}, {"constrained", s.constrained}};
  }
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
  out += list_quality_lines(r);
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
  out += "\n" + list_quality_lines(r);
  return out;
}

}  // namespace funnel
