// `funnel experiment ablation distill`: what each way of teaching the
// pre-rank student is worth, on one world and its splits (docs/techniques.md,
// "Training the student"). Shared once: a BM25 index, a bigger two-tower
// teacher, the cross ranker (with its stored training scores) and
// MLM-pre-trained encoders at three mask rates. Rows, each adding to the one
// before:
//   student alone; + teacher MarginMSE; + in-batch KL; + ranker distillation
//   with its schedule; + ChildTuning-D; then that full recipe started from
//   an MLM encoder pre-trained at mask rate 0.15, 0.30, 0.45; last, ranker
//   distillation on its own (no teacher), the demo's recipe.
// Every run evaluates the cascade BM25 top `depth` -> pre-rank keeps `keep`
// -> rank on the test split: the student's click AUC and label AUC, the
// order consistency of pre-rank with the ranker, nDCG@10 of pre-rank's
// order and of the final (ranked) list.
// Writes OUT/ablation.md, OUT/ablation.json, OUT/ablation.svg.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "experiments/ablation.h"
#include "experiments/report.h"
#include "funnel/error.h"
#include "funnel/pipeline.h"

namespace funnel::experiments {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Row {
  std::string label, slug;
  bool margin = false, inbatch = false, ranker = false, child = false;
  double mask_rate = 0;  // 0: no pre-training
};

std::vector<Row> all_rows_of_table() {
  std::vector<Row> r;
  Row x{"student alone", "alone"};
  r.push_back(x);
  x.margin = true, x.label = "+ teacher MarginMSE", x.slug = "margin";
  r.push_back(x);
  x.inbatch = true, x.label = "+ in-batch KL", x.slug = "inbatch";
  r.push_back(x);
  x.ranker = true, x.label = "+ ranker distillation (schedule)", x.slug = "ranker";
  r.push_back(x);
  x.child = true, x.label = "+ ChildTuning-D", x.slug = "child";
  r.push_back(x);
  for (double m : {0.15, 0.30, 0.45}) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "+ MLM init, mask %.2f", m);
    x.label = buf;
    std::snprintf(buf, sizeof buf, "mlm%02d", static_cast<int>(std::lround(m * 100)));
    x.slug = buf;
    x.mask_rate = m;
    r.push_back(x);
  }
  // Not cumulative: ranker distillation on its own, without the teacher (the
  // demo's recipe), to tell what the teacher adds to it.
  r.push_back(Row{"ranker distillation only (no teacher)", "rankeronly", false, false, true, false, 0});
  return r;
}

// The rows to run: all, or those --rows names (an unknown slug is an error).
std::vector<Row> selected_rows(const std::vector<std::string>& slugs) {
  std::vector<Row> rows;
  for (const auto& row : all_rows_of_table())
    if (slugs.empty() || std::find(slugs.begin(), slugs.end(), row.slug) != slugs.end()) rows.push_back(row);
  for (const auto& slug : slugs)
    if (std::none_of(rows.begin(), rows.end(), [&](const Row& r) { return r.slug == slug; }))
      throw Error("--rows: unknown row '" + slug + "' (alone, margin, inbatch, ranker, child, mlm15, mlm30, mlm45, rankeronly)");
  return rows;
}

struct RunMetrics {
  double click_auc, label_auc, consistency, prerank_ndcg, final_ndcg;
};

// Every test query, or every n-th of them (sorted ids) down to eval_queries.
std::vector<Query> evaluated_queries(const AblationData& ad, std::size_t eval_queries) {
  std::vector<const Query*> judged;
  for (const auto& q : ad.ds.queries)
    if (ad.test.count(q.id)) judged.push_back(&q);
  std::sort(judged.begin(), judged.end(), [](const Query* x, const Query* y) { return x->id < y->id; });
  const std::size_t stride =
      eval_queries > 0 ? std::max<std::size_t>(1, (judged.size() + eval_queries - 1) / eval_queries) : 1;
  std::vector<Query> out;
  for (std::size_t i = 0; i < judged.size(); i += stride) out.push_back(*judged[i]);
  return out;
}

// The pieces every row shares, in OUT/shared, reused only when they were
// made with the same setup: the BM25 index, the teacher, the ranker and the
// MLM encoders the rows need.
void make_shared_models(const AblationOptions& a, const std::vector<Row>& rows, const fs::path& shared,
                        const Corpus& corpus, const json& setup, const train::LogFn& log) {
  json before;
  if (!finished_run(shared / "setup.json", setup, before)) {
    std::error_code ec;
    fs::remove_all(shared, ec);
    fs::create_directories(shared);
    write_text_file(shared / "setup.json", json{{"setup", setup}}.dump(2) + "\n");
  }
  if (!fs::exists(shared / "index-bm25" / "manifest.json")) {
    log("indexing " + std::to_string(corpus.docs.size()) + " docs (BM25)");
    IndexOptions io;
    io.overwrite = true;
    build_index(corpus, shared / "index-bm25", io);
  }
  if (!fs::exists(shared / "teacher" / "prerank" / "model.pt")) {
    log("training the two-tower teacher (hidden " + std::to_string(a.teacher_hidden) + ", " +
        std::to_string(a.teacher_layers) + " layers, " + std::to_string(a.teacher_epochs) + " epochs)");
    train::PrerankTrainOptions o = a.train;
    o.hidden = a.teacher_hidden;
    o.layers = a.teacher_layers;
    o.epochs = a.teacher_epochs;
    o.seed = 1000;
    train::train_prerank(a.data, shared / "teacher", o, log);
  }
  if (!fs::exists(shared / "ranker" / "rank" / "train_scores.jsonl")) {
    log("training the cross ranker");
    train::RankTrainOptions r;
    r.preset = a.train.preset;
    r.epochs = 1;
    r.steps_per_epoch = a.rank_steps;
    r.seed = 1000;
    train::train_rank(a.data, shared / "ranker", r, log);
  }
  for (const auto& row : rows) {
    if (row.mask_rate == 0 || fs::exists(shared / row.slug / "pretrain" / "encoder.pt")) continue;
    log("pre-training an encoder at mask rate " + std::to_string(row.mask_rate));
    train::PretrainOptions p;
    p.preset = a.train.preset;
    p.mask_rate = row.mask_rate;
    p.steps_per_epoch = a.pretrain_steps;
    p.max_len = 64;
    p.seed = 1000;
    train::pretrain_encoder(a.data, shared / row.slug, p, log);
  }
}

// Trains one row's student for `seed` and evaluates it in the cascade.
json run_row(const AblationOptions& a, const AblationData& ad, const std::vector<Query>& queries, const Row& row,
             std::uint64_t seed, const fs::path& shared, const fs::path& dir, const json& setup) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  train::PrerankTrainOptions o = a.train;
  o.seed = seed;
  o.cascade_depth = a.depth;
  o.cascade_keep = a.keep;
  if (row.margin || row.inbatch) {
    o.teacher = (shared / "teacher").string();
    o.distill_margin = row.margin ? a.margin_weight : 0.0;
    o.distill_inbatch = row.inbatch ? a.inbatch_weight : 0.0;
  }
  if (row.ranker) o.ranker_scores = (shared / "ranker").string();
  if (row.child) o.child_tuning = "D";
  if (row.mask_rate > 0) o.init = (shared / row.slug).string();
  const auto tr = train::train_prerank(a.data, dir / "models", o, {});
  auto index = index_for_student(shared / "index-bm25", dir / "index", ad.ds.corpus, dir / "models");
  CascadeSpec spec{a.depth, a.keep, dir / "models", std::nullopt, shared / "ranker", {}, false};
  const EvalResult full = evaluate(Pipeline(index, make_cascade(spec), "ablation cascade"), queries, ad.test,
                                   ad.eval_options(a.keep));
  spec.rank_models.clear();
  EvalOptions plain;
  plain.k = a.keep;
  const EvalResult pre = evaluate(Pipeline(index, make_cascade(spec), "ablation cascade"), queries, ad.test, plain);
  fs::remove_all(dir / "index", ec);
  double click_auc = std::nan(""), label_auc = std::nan("");
  for (const auto& s : full.stages)
    if (s.name == "prerank") {
      click_auc = s.auc;
      label_auc = s.label_auc;
    }
  auto num = [](double x) { return std::isnan(x) ? json() : json(x); };
  return {{"row", row.label}, {"slug", row.slug}, {"seed", seed}, {"setup", setup},
          {"click_auc", num(click_auc)}, {"label_auc", num(label_auc)},
          {"consistency", num(full.consistency_prerank_rank)},
          {"consistency_overall", num(full.consistency_prerank_rank_overall)}, {"prerank_ndcg@10", pre.ndcg10},
          {"final_ndcg@10", full.ndcg10}, {"prerank_recall", pre.stages.back().recall},
          {"fusion_weight", tr.fusion_weight}, {"best_epoch", tr.best_epoch}};
}

std::vector<double> column(const std::vector<RunMetrics>& v, double RunMetrics::*f) {
  std::vector<double> x;
  for (const auto& m : v) x.push_back(m.*f);
  return x;
}

// OUT/ablation.{md,json,svg}; returns the markdown.
std::string write_report(const AblationOptions& a, const std::vector<Row>& rows, std::size_t n_queries,
                         std::map<std::string, std::vector<RunMetrics>>& by_row, const json& runs) {
  std::ostringstream md;
  md << "# Distillation ablation\n\n"
     << "- data: `" << a.data << "`, test split, " << n_queries << " judged queries\n"
     << "- cascade: BM25 top " << a.depth << " -> pre-rank keeps " << a.keep << " -> rank (the cross ranker)\n"
     << "- student: preset " << a.train.preset << ", matcher " << a.train.matcher << (a.train.use_image ? "" : ", no image")
     << ", " << a.train.epochs << " epoch(s) x " << a.train.steps_per_epoch << " steps of " << a.train.batch << "\n"
     << "- teacher: the same two-tower, hidden " << a.teacher_hidden << ", " << a.teacher_layers << " layers, "
     << a.teacher_epochs << " epoch(s); MarginMSE weight " << a.margin_weight << ", in-batch KL weight "
     << a.inbatch_weight << " (both on the logits, score / InfoNCE temperature); ranker: " << a.rank_steps
     << " steps; MLM pre-training: " << a.pretrain_steps << " steps\n"
     << "- seeds: ";
  for (std::size_t i = 0; i < a.seeds.size(); ++i) md << (i ? ", " : "") << a.seeds[i];
  md << " (mean ± sd); each row adds to the row above it, the MLM rows start the full recipe from a pre-trained encoder;"
        " the last row stands alone: ranker distillation without the teacher\n\n"
     << "| variant | click AUC | label AUC | consistency with ranker | nDCG@10 pre-rank | nDCG@10 final |\n"
     << "|---|---|---|---|---|---|\n";
  std::vector<std::string> labels;
  std::vector<std::vector<std::vector<double>>> chart;
  for (const auto& row : rows) {
    const auto& v = by_row[row.slug];
    md << "| " << row.label << " | " << pm(column(v, &RunMetrics::click_auc)) << " | "
       << pm(column(v, &RunMetrics::label_auc)) << " | " << pm(column(v, &RunMetrics::consistency)) << " | "
       << pm(column(v, &RunMetrics::prerank_ndcg)) << " | " << pm(column(v, &RunMetrics::final_ndcg)) << " |\n";
    labels.push_back(row.slug);
    chart.push_back({column(v, &RunMetrics::label_auc), column(v, &RunMetrics::consistency),
                     column(v, &RunMetrics::prerank_ndcg), column(v, &RunMetrics::final_ndcg)});
  }
  md << "\nclick AUC (logged impressions of the evaluated queries) and label AUC (human labels) are of the student's own "
        "score. Consistency: of the pairs of pre-rank's survivors the ranker orders strictly, the share pre-rank (as "
        "served, fused with BM25) orders the same way, per request, averaged. Plot: `ablation.svg`; every run: "
        "`ablation.json`.\n";
  const fs::path out(a.out);
  write_text_file(out / "ablation.json", json{{"depth", a.depth}, {"keep", a.keep}, {"runs", runs}}.dump(2) + "\n");
  write_text_file(out / "ablation.md", md.str());
  write_text_file(out / "ablation.svg",
                  svg_chart(labels, chart, {"label AUC", "consistency", "nDCG@10 pre-rank", "nDCG@10 final"},
                            {std::nan(""), std::nan(""), std::nan(""), std::nan("")},
                            "Distillation ablation (mean over seeds)",
                            "rows add up from left to right, but rankeronly stands alone"));
  return md.str();
}

}  // namespace

void run_distill_ablation(const AblationOptions& a) {
  const fs::path data(a.data), out(a.out);
  if (a.seeds.empty()) throw Error("--seeds: at least one seed");
  const std::vector<Row> rows = selected_rows(a.rows);
  if (fs::exists(out) && !fs::is_empty(out) && !a.force)
    throw Error(a.out + ": exists and is not empty (pass --force to reuse it: finished runs are kept)");
  auto log = [](const std::string& s) { std::fprintf(stderr, "ablation: %s\n", s.c_str()); };
  log("reading " + a.data);
  const AblationData ad = load_ablation_data(data);
  const std::vector<Query> queries = evaluated_queries(ad, a.eval_queries);
  fs::create_directories(out / "runs");
  const json setup = {{"data", fs::absolute(data).lexically_normal().string()}, {"docs", ad.ds.corpus.docs.size()},
                      {"preset", a.train.preset}, {"epochs", a.train.epochs}, {"steps", a.train.steps_per_epoch},
                      {"batch", a.train.batch}, {"depth", a.depth}, {"keep", a.keep}, {"eval_queries", queries.size()},
                      {"teacher_hidden", a.teacher_hidden}, {"teacher_layers", a.teacher_layers},
                      {"teacher_epochs", a.teacher_epochs}, {"rank_steps", a.rank_steps},
                      {"pretrain_steps", a.pretrain_steps}};
  // A run is reused only when its shared pieces and its own options match:
  // the distillation weights and where they act are the runs' own keys.
  json run_setup = setup;
  run_setup["margin_weight"] = a.margin_weight;
  run_setup["inbatch_weight"] = a.inbatch_weight;
  run_setup["distill_on"] = "logits";
  const fs::path shared = out / "shared";
  make_shared_models(a, rows, shared, ad.ds.corpus, setup, log);
  json runs = json::array();
  std::map<std::string, std::vector<RunMetrics>> by_row;
  std::size_t done = 0;
  const std::size_t total = rows.size() * a.seeds.size();
  for (const auto& row : rows)
    for (std::uint64_t seed : a.seeds) {
      const fs::path dir = out / "runs" / (row.slug + "-seed" + std::to_string(seed));
      const std::string what =
          "[" + std::to_string(++done) + "/" + std::to_string(total) + "] " + row.label + " seed " + std::to_string(seed);
      json res;
      if (finished_run(dir / "result.json", run_setup, res)) {
        log(what + ": kept from " + (dir / "result.json").string());
      } else {
        log(what + ": training");
        res = run_row(a, ad, queries, row, seed, shared, dir, run_setup);
        write_text_file(dir / "result.json", res.dump(2) + "\n");
        log(what + ": " + res.dump());
      }
      auto n = [&](const char* k) { return res[k].is_null() ? std::nan("") : res[k].get<double>(); };
      by_row[row.slug].push_back({n("click_auc"), n("label_auc"), n("consistency"), n("prerank_ndcg@10"), n("final_ndcg@10")});
      runs.push_back(res);
    }
  std::printf("%s", write_report(a, rows, queries.size(), by_row, runs).c_str());
}

}  // namespace funnel::experiments
