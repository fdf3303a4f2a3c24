// `funnel experiment ablation prerank`: trains and compares pre-rank students
// on one world. Variants: dot / soft_attention / esim, each with and without
// the image channel, over several seeds. Every run trains a student, encodes
// the corpus into its own copy of a shared BM25 index, and evaluates the
// cascade BM25 top `depth` -> pre-rank keeps `keep` on the test split, twice:
// with the BM25 fusion weight fitted in training and with the student alone.
// Writes OUT/ablation.md (mean +- sd table), OUT/ablation.json (every run)
// and OUT/ablation.svg (a bar chart with one sd error bars).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
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

struct Variant {
  std::string matcher;
  bool image;
  std::string label() const { return matcher + (image ? " + image" : " - image"); }
  std::string slug() const { return matcher + (image ? "-img" : "-noimg"); }
};

// The metrics of one evaluated cascade.
struct RunMetrics {
  double click_auc, gauc, label_auc, recall, ndcg10;
};

RunMetrics metrics_of(const EvalResult& r) {
  for (const auto& s : r.stages)
    if (s.name == "prerank") return {s.auc, s.gauc, s.label_auc, s.recall, r.ndcg10};
  throw Error("ablation: the cascade has no prerank stage");
}

json to_json(const RunMetrics& m) {
  auto num = [](double x) { return std::isnan(x) ? json() : json(x); };
  return {{"click_auc", num(m.click_auc)}, {"gauc", num(m.gauc)}, {"label_auc", num(m.label_auc)},
          {"recall", m.recall}, {"ndcg@10", m.ndcg10}};
}

RunMetrics metrics_from_json(const json& j) {
  auto n = [&](const char* k) { return j[k].is_null() ? std::nan("") : j[k].get<double>(); };
  return {n("click_auc"), n("gauc"), n("label_auc"), n("recall"), n("ndcg@10")};
}

// The shared BM25 index in OUT/index-bm25, reused only for the same data (a
// --force run on another folder rebuilds it).
fs::path shared_bm25_index(const fs::path& out, const fs::path& data, const Corpus& corpus) {
  const fs::path index = out / "index-bm25";
  const json data_id = {{"data", fs::absolute(data).lexically_normal().string()}, {"docs", corpus.docs.size()}};
  std::ifstream in(out / "data.json");
  const json before = in ? json::parse(in, nullptr, false) : json();
  if (before != data_id) {
    std::error_code ec;
    fs::remove_all(index, ec);
  }
  if (!fs::exists(index / "manifest.json")) {
    std::fprintf(stderr, "ablation: indexing %zu docs (BM25)\n", corpus.docs.size());
    IndexOptions io;
    io.overwrite = true;
    build_index(corpus, index, io);
    write_text_file(out / "data.json", data_id.dump(2) + "\n");
  }
  return index;
}

// Trains one student and evaluates it fused and alone.
json run_variant(const AblationOptions& a, const AblationData& ad, const fs::path& bm25_index, const Variant& v,
                 std::uint64_t seed, const fs::path& dir, const json& setup) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  train::PrerankTrainOptions o = a.train;
  o.matcher = v.matcher;
  o.use_image = v.image;
  o.seed = seed;
  o.cascade_depth = a.depth;  // fit the fusion weight for the cascade evaluated here
  o.cascade_keep = a.keep;
  const auto tr = train::train_prerank(a.data, dir / "models", o, {});
  auto index = index_for_student(bm25_index, dir / "index", ad.ds.corpus, dir / "models");
  auto eval = [&](double w) {
    const json cascade = make_cascade({a.depth, a.keep, dir / "models", w, {}, {}, true});
    return metrics_of(evaluate(Pipeline(index, cascade, "ablation cascade"), ad.ds.queries, ad.test, ad.eval_options(a.keep)));
  };
  const RunMetrics fused = eval(tr.fusion_weight), alone = eval(0.0);
  fs::remove_all(dir / "index", ec);  // keep the models and the result, not 50k embeddings per run
  return {{"matcher", v.matcher}, {"image", v.image}, {"seed", seed}, {"setup", setup}, {"fusion_weight", tr.fusion_weight},
          {"best_epoch", tr.best_epoch}, {"fused", to_json(fused)}, {"student", to_json(alone)}};
}

std::vector<double> column(const std::vector<RunMetrics>& v, double RunMetrics::*f) {
  std::vector<double> x;
  for (const auto& m : v) x.push_back(m.*f);
  return x;
}

// OUT/ablation.{md,json,svg}; returns the markdown.
std::string write_report(const AblationOptions& a, const AblationData& ad, const std::vector<Variant>& variants,
                         const RunMetrics& bm25, std::map<std::string, std::vector<RunMetrics>>& fused,
                         std::map<std::string, std::vector<RunMetrics>>& alone, const json& runs) {
  std::ostringstream md;
  md << "# Pre-rank ablation\n\n"
     << "- data: `" << a.data << "`, test split (" << ad.test.size() << " judged queries)\n"
     << "- cascade: BM25 top " << a.depth << " -> pre-rank keeps " << a.keep << "\n"
     << "- student: preset " << a.train.preset << ", " << a.train.epochs << " epochs x " << a.train.steps_per_epoch
     << " steps of " << a.train.batch << ", heads " << a.train.nq << " x " << a.train.nd << " (dot: 1 x 1)\n"
     << "- seeds: ";
  for (std::size_t i = 0; i < a.seeds.size(); ++i) md << (i ? ", " : "") << a.seeds[i];
  md << " (mean ± sd)\n\n"
     << "\"fused\": the stage's score is student + w x BM25 / the request's best BM25, w fitted on dev queries "
        "during training; \"alone\": the student's score only.\n\n"
     << "| variant | Recall@" << a.keep << " fused | Recall@" << a.keep << " alone | nDCG@10 fused | nDCG@10 alone"
     << " | click AUC | GAUC | label AUC |\n|---|---|---|---|---|---|---|---|\n";
  char buf[128];
  std::snprintf(buf, sizeof buf, "| BM25 alone | %.4f | | %.4f | | | | |\n", bm25.recall, bm25.ndcg10);
  md << buf;
  std::vector<std::string> labels;
  std::vector<std::vector<std::vector<double>>> chart;
  for (const auto& v : variants) {
    const auto& f = fused[v.label()];
    const auto& s = alone[v.label()];
    md << "| " << v.label() << " | " << pm(column(f, &RunMetrics::recall)) << " | " << pm(column(s, &RunMetrics::recall))
       << " | " << pm(column(f, &RunMetrics::ndcg10)) << " | " << pm(column(s, &RunMetrics::ndcg10)) << " | "
       << pm(column(s, &RunMetrics::click_auc)) << " | " << pm(column(s, &RunMetrics::gauc)) << " | "
       << pm(column(s, &RunMetrics::label_auc)) << " |\n";
    labels.push_back(v.label());
    chart.push_back({column(f, &RunMetrics::recall), column(s, &RunMetrics::recall), column(f, &RunMetrics::ndcg10)});
  }
  md << "\nAUCs are of the student's own score (click AUC and GAUC on logged impressions of test queries, label AUC "
        "on human labels). Plot: `ablation.svg`. Every run: `ablation.json`, `runs/*/result.json`.\n";
  const fs::path out(a.out);
  write_text_file(out / "ablation.md", md.str());
  write_text_file(out / "ablation.json",
                  json{{"bm25", {{"recall", bm25.recall}, {"ndcg@10", bm25.ndcg10}}}, {"depth", a.depth}, {"keep", a.keep},
                       {"runs", runs}}.dump(2) + "\n");
  const std::string keep = std::to_string(a.keep);
  write_text_file(out / "ablation.svg",
                  svg_chart(labels, chart, {"Recall@" + keep + " fused", "Recall@" + keep + " student alone", "nDCG@10 fused"},
                            {bm25.recall, bm25.recall, bm25.ndcg10}, "Pre-rank ablation (mean over seeds)",
                            "dashed: BM25 alone at the same depth (same colour = same metric)"));
  return md.str();
}

}  // namespace

void run_prerank_ablation(const AblationOptions& a) {
  const fs::path data(a.data), out(a.out);
  if (a.seeds.empty()) throw Error("--seeds: at least one seed");
  if (fs::exists(out) && !fs::is_empty(out) && !a.force)
    throw Error(a.out + ": exists and is not empty (pass --force to reuse it: finished runs are kept)");
  std::fprintf(stderr, "ablation: reading %s\n", a.data.c_str());
  const AblationData ad = load_ablation_data(data);
  fs::create_directories(out / "runs");
  const fs::path bm25_index = shared_bm25_index(out, data, ad.ds.corpus);
  // BM25 alone at the same depth, for reference.
  RunMetrics bm25{};
  {
    const EvalResult r = evaluate(Pipeline(Index::open(bm25_index), default_cascade(a.depth, a.keep), "bm25 cascade"),
                                  ad.ds.queries, ad.test, ad.eval_options(a.keep));
    bm25 = {std::nan(""), std::nan(""), std::nan(""), r.stages.back().recall, r.ndcg10};
  }
  std::vector<Variant> variants;
  for (const auto& m : a.matchers)
    for (bool image : {true, false}) variants.push_back({m, image});
  // What a finished run must match to be reused.
  const json setup = {{"data", fs::absolute(data).lexically_normal().string()}, {"docs", ad.ds.corpus.docs.size()},
                      {"preset", a.train.preset}, {"epochs", a.train.epochs}, {"steps", a.train.steps_per_epoch},
                      {"batch", a.train.batch}, {"head_dim", a.train.head_dim}, {"depth", a.depth}, {"keep", a.keep}};
  json runs = json::array();
  std::map<std::string, std::vector<RunMetrics>> fused, alone;
  std::size_t done = 0;
  const std::size_t total = variants.size() * a.seeds.size();
  for (const auto& v : variants)
    for (std::uint64_t seed : a.seeds) {
      const fs::path dir = out / "runs" / (v.slug() + "-seed" + std::to_string(seed));
      const std::string what = "[" + std::to_string(++done) + "/" + std::to_string(total) + "] " + v.label() + " seed " +
                               std::to_string(seed);
      json row;
      if (finished_run(dir / "result.json", setup, row)) {
        std::fprintf(stderr, "ablation: %s: kept from %s\n", what.c_str(), (dir / "result.json").c_str());
      } else {
        std::fprintf(stderr, "ablation: %s: training\n", what.c_str());
        row = run_variant(a, ad, bm25_index, v, seed, dir, setup);
        write_text_file(dir / "result.json", row.dump(2) + "\n");
        std::fprintf(stderr, "ablation: %s: Recall@%zu %.4f (student alone %.4f), nDCG@10 %.4f\n", what.c_str(), a.keep,
                     row["fused"]["recall"].get<double>(), row["student"]["recall"].get<double>(),
                     row["fused"]["ndcg@10"].get<double>());
      }
      fused[v.label()].push_back(metrics_from_json(row["fused"]));
      alone[v.label()].push_back(metrics_from_json(row["student"]));
      runs.push_back(row);
    }
  std::printf("%s", write_report(a, ad, variants, bm25, fused, alone, runs).c_str());
}

}  // namespace funnel::experiments
