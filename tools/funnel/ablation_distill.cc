// `funnel eval --ablation distill`: what each way of teaching the pre-rank
// student is worth, on one world and its splits (TECHNIQUES.md 3). Shared
// once: a BM25 index, a bigger two-tower teacher, the cross ranker (with its
// stored training scores) and MLM-pre-trained encoders at three mask rates.
// Rows, each adding to the one before:
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
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ablation.h"
#include "ablation_util.h"
#include "funnel/error.h"
#include "funnel/eval.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "model/prerank_stage.h"
#include "train/pretrain.h"
#include "train/prerank_trainer.h"
#include "train/rank_trainer.h"
#include "util/fs.h"

namespace funnel::cli {
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

struct RunMetrics {
  double click_auc, label_auc, consistency, prerank_ndcg, final_ndcg;
};

json cascade(std::size_t depth, std::size_t keep, const fs::path& student, const fs::path& ranker, bool with_rank) {
  json stages = {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", depth}}}}},
                 {{"name", "prerank"}, {"type", "prerank"}, {"keep", keep}, {"models", fs::absolute(student).string()}}};
  if (with_rank)
    stages.push_back({{"name", "rank"}, {"type", "rank"}, {"keep", keep}, {"models", fs::absolute(ranker).string()}});
  return {{"stages", stages}};
}

// Writes `j` to `path` atomically.
void write_json(const fs::path& path, const json& j) {
  detail::AtomicFile f(path);
  f.stream() << j.dump(2) << '\n';
  f.commit();
}

bool setup_matches(const fs::path& file, const json& setup) {
  std::ifstream in(file);
  if (!in) return false;
  json j = json::parse(in, nullptr, false);
  return !j.is_discarded() && j.value("setup", json()) == setup;
}

}  // namespace

void run_distill_ablation(const AblationOptions& a) {
  const fs::path data(a.data), out(a.out);
  if (!fs::is_directory(data)) throw Error(a.data + ": data folder not found");
  if (a.seeds.empty()) throw Error("--seeds: at least one seed");
  // The rows to run (all, or those --rows names).
  std::vector<Row> all_rows;
  for (const auto& row : all_rows_of_table())
    if (a.rows.empty() || std::find(a.rows.begin(), a.rows.end(), row.slug) != a.rows.end()) all_rows.push_back(row);
  for (const auto& slug : a.rows)
    if (std::none_of(all_rows.begin(), all_rows.end(), [&](const Row& r) { return r.slug == slug; }))
      throw Error("--rows: unknown row '" + slug +
                  "' (alone, margin, inbatch, ranker, child, mlm15, mlm30, mlm45, rankeronly)");
  if (fs::exists(out) && !fs::is_empty(out) && !a.force)
    throw Error(a.out + ": exists and is not empty (pass --force to reuse it: finished runs are kept)");
  fs::create_directories(out / "runs");
  model::register_model_stages();
  auto log = [](const std::string& s) { std::fprintf(stderr, "ablation: %s\n", s.c_str()); };
  log("reading " + a.data);
  Dataset ds = load_dataset(data);
  Qrels test = load_qrels(data, "test");
  std::vector<Impression> impressions;
  if (fs::exists(data / "impressions.jsonl")) impressions = read_impressions(data / "impressions.jsonl");
  Qrels human;
  if (fs::exists(data / "human_labels.tsv")) human = read_qrels(data / "human_labels.tsv");
  EvalOptions eo;
  eo.k = a.keep;
  if (!impressions.empty()) eo.impressions = &impressions;
  if (!human.empty()) eo.human_labels = &human;
  // The evaluated queries: every test query, or every n-th of them (sorted
  // ids) down to eval_queries.
  std::vector<Query> queries;
  {
    std::vector<const Query*> judged;
    for (const auto& q : ds.queries)
      if (test.count(q.id)) judged.push_back(&q);
    std::sort(judged.begin(), judged.end(), [](const Query* x, const Query* y) { return x->id < y->id; });
    const std::size_t stride =
        a.eval_queries > 0 ? std::max<std::size_t>(1, (judged.size() + a.eval_queries - 1) / a.eval_queries) : 1;
    for (std::size_t i = 0; i < judged.size(); i += stride) queries.push_back(*judged[i]);
  }

  const json setup = {{"data", fs::absolute(data).lexically_normal().string()},
                      {"docs", ds.corpus.docs.size()},
                      {"preset", a.train.preset}, {"epochs", a.train.epochs}, {"steps", a.train.steps_per_epoch},
                      {"batch", a.train.batch}, {"depth", a.depth}, {"keep", a.keep}, {"eval_queries", queries.size()},
                      {"teacher_hidden", a.teacher_hidden}, {"teacher_layers", a.teacher_layers},
                      {"teacher_epochs", a.teacher_epochs},
                      {"rank_steps", a.rank_steps}, {"pretrain_steps", a.pretrain_steps}};
  // A run is reused only when its shared pieces and its own options match:
  // the distillation weights and where they act are the runs' own keys.
  json run_setup = setup;
  run_setup["margin_weight"] = a.margin_weight;
  run_setup["inbatch_weight"] = a.inbatch_weight;
  run_setup["distill_on"] = "logits";
  const fs::path shared = out / "shared";
  fs::create_directories(shared);
  // Shared pieces are reused only when they were made with this setup.
  if (!setup_matches(shared / "setup.json", setup)) {
    std::error_code ec;
    fs::remove_all(shared, ec);
    fs::create_directories(shared);
    write_json(shared / "setup.json", {{"setup", setup}});
  }
  // BM25 index.
  const fs::path bm25_index = shared / "index-bm25";
  if (!fs::exists(bm25_index / "manifest.json")) {
    log("indexing " + std::to_string(ds.corpus.docs.size()) + " docs (BM25)");
    IndexOptions io;
    io.overwrite = true;
    build_index(ds.corpus, bm25_index, io);
  }
  // The teacher: the student's recipe, wider and deeper.
  const fs::path teacher = shared / "teacher";
  if (!fs::exists(teacher / "prerank" / "model.pt")) {
    log("training the two-tower teacher (hidden " + std::to_string(a.teacher_hidden) + ", " +
        std::to_string(a.teacher_layers) + " layers, " + std::to_string(a.teacher_epochs) + " epochs)");
    train::PrerankTrainOptions o = a.train;
    o.hidden = a.teacher_hidden;
    o.layers = a.teacher_layers;
    o.epochs = a.teacher_epochs;
    o.seed = 1000;
    train::train_prerank(data, teacher, o, log);
  }
  // The cross ranker, and its scores on training candidates.
  const fs::path ranker = shared / "ranker";
  if (!fs::exists(ranker / "rank" / "train_scores.jsonl")) {
    log("training the cross ranker");
    train::RankTrainOptions r;
    r.preset = a.train.preset;
    r.epochs = 1;
    r.steps_per_epoch = a.rank_steps;
    r.seed = 1000;
    train::train_rank(data, ranker, r, log);
  }
  // MLM encoders.
  for (const auto& row : all_rows) {
    if (row.mask_rate == 0) continue;
    const fs::path dir = shared / row.slug;
    if (fs::exists(dir / "pretrain" / "encoder.pt")) continue;
    log("pre-training an encoder at mask rate " + std::to_string(row.mask_rate));
    train::PretrainOptions p;
    p.preset = a.train.preset;
    p.mask_rate = row.mask_rate;
    p.steps_per_epoch = a.pretrain_steps;
    p.max_len = 64;
    p.seed = 1000;
    train::pretrain_encoder(data, dir, p, log);
  }
  json runs = json::array();
  std::map<std::string, std::vector<RunMetrics>> by_row;
  std::size_t done = 0;
  const std::size_t total = all_rows.size() * a.seeds.size();
  for (const auto& row : all_rows) {
    for (std::uint64_t seed : a.seeds) {
      ++done;
      const fs::path dir = out / "runs" / (row.slug + "-seed" + std::to_string(seed));
      const fs::path result = dir / "result.json";
      json res;
      if (setup_matches(result, run_setup)) {
        std::ifstream in(result);
        res = json::parse(in);
        log("[" + std::to_string(done) + "/" + std::to_string(total) + "] " + row.label + " seed " + std::to_string(seed) +
            ": kept from " + result.string());
      } else {
        std::error_code ec;
        fs::remove_all(dir, ec);
        fs::create_directories(dir);
        log("[" + std::to_string(done) + "/" + std::to_string(total) + "] " + row.label + " seed " + std::to_string(seed) +
            ": training");
        train::PrerankTrainOptions o = a.train;
        o.seed = seed;
        o.cascade_depth = a.depth;
        o.cascade_keep = a.keep;
        if (row.margin || row.inbatch) {
          o.teacher = teacher.string();
          o.distill_margin = row.margin ? a.margin_weight : 0.0;
          o.distill_inbatch = row.inbatch ? a.inbatch_weight : 0.0;
        }
        if (row.ranker) o.ranker_scores = ranker.string();
        if (row.child) o.child_tuning = "D";
        if (row.mask_rate > 0) o.init = (shared / row.slug).string();
        auto tr = train::train_prerank(data, dir / "models", o, [](const std::string&) {});
        fs::copy(bm25_index, dir / "index", fs::copy_options::recursive);
        auto enc = model::make_doc_encoder(dir / "models");
        refresh_embeddings(dir / "index", ds.corpus, *enc, Precision::kFp32);
        auto index = Index::open(dir / "index");
        EvalResult full, pre;
        {
          Pipeline p(index, cascade(a.depth, a.keep, dir / "models", ranker, true), "ablation cascade");
          full = evaluate(p, queries, test, eo);
        }
        {
          EvalOptions plain = eo;
          plain.impressions = nullptr;
          plain.human_labels = nullptr;
          Pipeline p(index, cascade(a.depth, a.keep, dir / "models", ranker, false), "ablation cascade");
          pre = evaluate(p, queries, test, plain);
        }
        RunMetrics m{std::nan(""), std::nan(""), full.consistency_prerank_rank, pre.ndcg10, full.ndcg10};
        for (const auto& s : full.stages)
          if (s.name == "prerank") {
            m.click_auc = s.auc;
            m.label_auc = s.label_auc;
          }
        auto num = [](double x) { return std::isnan(x) ? json() : json(x); };
        res = {{"row", row.label}, {"slug", row.slug}, {"seed", seed}, {"setup", run_setup},
               {"click_auc", num(m.click_auc)}, {"label_auc", num(m.label_auc)}, {"consistency", num(m.consistency)},
               {"consistency_overall", num(full.consistency_prerank_rank_overall)},
               {"prerank_ndcg@10", m.prerank_ndcg}, {"final_ndcg@10", m.final_ndcg},
               {"prerank_recall", pre.stages.back().recall}, {"fusion_weight", tr.fusion_weight},
               {"best_epoch", tr.best_epoch}};
        fs::remove_all(dir / "index", ec);
        write_json(result, res);
        char buf[256];
        std::snprintf(buf, sizeof buf, "click AUC %.4f, label AUC %.4f, consistency %.4f, nDCG@10 pre-rank %.4f, final %.4f",
                      m.click_auc, m.label_auc, m.consistency, m.prerank_ndcg, m.final_ndcg);
        log("[" + std::to_string(done) + "/" + std::to_string(total) + "] " + row.label + " seed " + std::to_string(seed) +
            ": " + buf);
      }
      auto n = [&](const char* k) { return res[k].is_null() ? std::nan("") : res[k].get<double>(); };
      by_row[row.slug].push_back({n("click_auc"), n("label_auc"), n("consistency"), n("prerank_ndcg@10"), n("final_ndcg@10")});
      runs.push_back(res);
    }
  }

  std::ostringstream md;
  md << "# Distillation ablation\n\n"
     << "- data: `" << a.data << "`, test split, " << queries.size() << " judged queries\n"
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
  auto col = [](const std::vector<RunMetrics>& v, double RunMetrics::*f) {
    std::vector<double> x;
    for (const auto& m : v) x.push_back(m.*f);
    return x;
  };
  std::vector<std::string> labels;
  std::vector<std::vector<std::vector<double>>> chart;
  for (const auto& row : all_rows) {
    const auto& v = by_row[row.slug];
    md << "| " << row.label << " | " << pm(col(v, &RunMetrics::click_auc)) << " | " << pm(col(v, &RunMetrics::label_auc))
       << " | " << pm(col(v, &RunMetrics::consistency)) << " | " << pm(col(v, &RunMetrics::prerank_ndcg)) << " | "
       << pm(col(v, &RunMetrics::final_ndcg)) << " |\n";
    labels.push_back(row.slug);
    chart.push_back({col(v, &RunMetrics::label_auc), col(v, &RunMetrics::consistency), col(v, &RunMetrics::prerank_ndcg),
                     col(v, &RunMetrics::final_ndcg)});
  }
  md << "\nclick AUC (logged impressions of the evaluated queries) and label AUC (human labels) are of the student's own "
        "score. Consistency: of the pairs of pre-rank's survivors the ranker orders strictly, the share pre-rank (as "
        "served, fused with BM25) orders the same way, per request, averaged. Plot: `ablation.svg`; every run: "
        "`ablation.json`.\n";
  write_json(out / "ablation.json", {{"depth", a.depth}, {"keep", a.keep}, {"runs", runs}});
  {
    detail::AtomicFile f(out / "ablation.md");
    f.stream() << md.str();
    f.commit();
  }
  {
    detail::AtomicFile f(out / "ablation.svg");
    f.stream() << svg_chart(labels, chart, {"label AUC", "consistency", "nDCG@10 pre-rank", "nDCG@10 final"},
                            {std::nan(""), std::nan(""), std::nan(""), std::nan("")},
                            "Distillation ablation (mean over seeds)",
                            "rows add up from left to right, but rankeronly stands alone");
    f.commit();
  }
  std::printf("%s", md.str().c_str());
}

}  // namespace funnel::cli
