// `funnel eval --ablation prerank`: trains and compares pre-rank students on
// one world. Variants: dot / soft_attention / esim, each with and without
// the image channel, over several seeds. Every run trains a student, encodes
// the corpus into its own copy of a shared BM25 index, and evaluates the
// cascade BM25 top `depth` -> pre-rank keeps `keep` on the test split, twice:
// with the BM25 fusion weight fitted in training and with the student alone.
// Writes OUT/ablation.md (mean +- sd table), OUT/ablation.json (every run)
// and OUT/ablation.svg (a bar chart with one sd error bars).
#include "ablation.h"
#include "ablation_util.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "funnel/error.h"
#include "funnel/eval.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "model/prerank_stage.h"
#include "progress.h"
#include "train/prerank_trainer.h"
#include "util/fs.h"

namespace funnel::cli {
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

json cascade(std::size_t depth, std::size_t keep, const fs::path& models, double recall_weight) {
  return {{"stages",
           {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", depth}}}}},
            {{"name", "prerank"}, {"type", "prerank"}, {"keep", keep}, {"models", fs::absolute(models).string()},
             {"recall_weight", recall_weight}},
            {{"name", "truncate"}, {"type", "truncate"}, {"keep", keep}}}}};
}

}  // namespace

void run_prerank_ablation(const AblationOptions& a) {
  const fs::path data(a.data), out(a.out);
  if (!fs::is_directory(data)) throw Error(a.data + ": data folder not found");
  if (a.seeds.empty()) throw Error("--seeds: at least one seed");
  if (fs::exists(out) && !fs::is_empty(out) && !a.force)
    throw Error(a.out + ": exists and is not empty (pass --force to reuse it: finished runs are kept)");
  fs::create_directories(out / "runs");
  model::register_model_stages();
  std::fprintf(stderr, "ablation: reading %s\n", a.data.c_str());
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

  // The shared BM25 index is reused only for the same data (a --force run
  // on another folder rebuilds it).
  const fs::path bm25_index = out / "index-bm25";
  const json data_id = {{"data", fs::absolute(data).lexically_normal().string()}, {"docs", ds.corpus.docs.size()}};
  {
    std::ifstream in(out / "data.json");
    json before = in ? json::parse(in, nullptr, false) : json();
    if (before != data_id) {
      std::error_code ec;
      fs::remove_all(bm25_index, ec);
    }
  }
  if (!fs::exists(bm25_index / "manifest.json")) {
    std::fprintf(stderr, "ablation: indexing %zu docs (BM25)\n", ds.corpus.docs.size());
    IndexOptions io;
    io.overwrite = true;
    build_index(ds.corpus, bm25_index, io);
    detail::AtomicFile f(out / "data.json");
    f.stream() << data_id.dump(2) << '\n';
    f.commit();
  }
  // BM25 alone at the same depth, for reference.
  RunMetrics bm25{};
  {
    Pipeline p(Index::open(bm25_index), default_cascade(a.depth, a.keep), "bm25 cascade");
    EvalResult r = evaluate(p, ds.queries, test, eo);
    bm25 = {std::nan(""), std::nan(""), std::nan(""), r.stages.back().recall, r.ndcg10};
  }

  std::vector<Variant> variants;
  for (const auto& m : a.matchers)
    for (bool image : {true, false}) variants.push_back({m, image});
  json runs = json::array();
  std::map<std::string, std::vector<RunMetrics>> fused, alone;
  // What a finished run must match to be reused.
  const json setup = {{"data", fs::absolute(data).lexically_normal().string()},
                      {"docs", ds.corpus.docs.size()},
                      {"preset", a.train.preset}, {"epochs", a.train.epochs}, {"steps", a.train.steps_per_epoch},
                      {"batch", a.train.batch}, {"head_dim", a.train.head_dim}, {"depth", a.depth}, {"keep", a.keep}};
  std::size_t done = 0;
  const std::size_t total = variants.size() * a.seeds.size();
  for (const auto& v : variants) {
    for (std::uint64_t seed : a.seeds) {
      const fs::path dir = out / "runs" / (v.slug() + "-seed" + std::to_string(seed));
      const fs::path result = dir / "result.json";
      ++done;
      json row;
      bool reuse = false;
      if (fs::exists(result)) {  // a finished run of an interrupted ablation, if it was set up the same way
        std::ifstream in(result);
        row = json::parse(in, nullptr, false);
        reuse = !row.is_discarded() && row.value("setup", json()) == setup;
      }
      if (reuse) {
        std::fprintf(stderr, "ablation: [%zu/%zu] %s seed %llu: kept from %s\n", done, total, v.label().c_str(),
                     static_cast<unsigned long long>(seed), result.c_str());
      } else {
        std::error_code ec;
        fs::remove_all(dir, ec);
        fs::create_directories(dir);
        std::fprintf(stderr, "ablation: [%zu/%zu] %s seed %llu: training\n", done, total, v.label().c_str(),
                     static_cast<unsigned long long>(seed));
        train::PrerankTrainOptions o = a.train;
        o.matcher = v.matcher;
        o.use_image = v.image;
        o.seed = seed;
        o.cascade_depth = a.depth;  // fit the fusion weight for the cascade evaluated here
        o.cascade_keep = a.keep;
        auto tr = train::train_prerank(data, dir / "models", o, [](const std::string&) {});
        fs::copy(bm25_index, dir / "index", fs::copy_options::recursive);
        auto enc = model::make_doc_encoder(dir / "models");
        refresh_embeddings(dir / "index", ds.corpus, *enc, Precision::kFp32);
        auto index = Index::open(dir / "index");
        auto eval = [&](double w) {
          Pipeline p(index, cascade(a.depth, a.keep, dir / "models", w), "ablation cascade");
          return metrics_of(evaluate(p, ds.queries, test, eo));
        };
        RunMetrics f = eval(tr.fusion_weight), s = eval(0.0);
        auto num = [](double x) { return std::isnan(x) ? json() : json(x); };
        auto obj = [&](const RunMetrics& m) {
          return json{{"click_auc", num(m.click_auc)}, {"gauc", num(m.gauc)}, {"label_auc", num(m.label_auc)},
                      {"recall", m.recall}, {"ndcg@10", m.ndcg10}};
        };
        row = {{"matcher", v.matcher}, {"image", v.image}, {"seed", seed}, {"setup", setup},
               {"fusion_weight", tr.fusion_weight},
               {"best_epoch", tr.best_epoch}, {"fused", obj(f)}, {"student", obj(s)}};
        fs::remove_all(dir / "index", ec);  // keep the models and the result, not 50k embeddings per run
        detail::AtomicFile rf(result);
        rf.stream() << row.dump(2) << '\n';
        rf.commit();
        std::fprintf(stderr, "ablation: [%zu/%zu] %s seed %llu: Recall@%zu %.4f (student alone %.4f), nDCG@10 %.4f\n",
                     done, total, v.label().c_str(), static_cast<unsigned long long>(seed), a.keep, f.recall, s.recall,
                     f.ndcg10);
      }
      auto get = [](const json& j) {
        auto n = [&](const char* k) { return j[k].is_null() ? std::nan("") : j[k].get<double>(); };
        return RunMetrics{n("click_auc"), n("gauc"), n("label_auc"), n("recall"), n("ndcg@10")};
      };
      fused[v.label()].push_back(get(row["fused"]));
      alone[v.label()].push_back(get(row["student"]));
      runs.push_back(row);
    }
  }

  // The table: mean ± sd over seeds.
  std::ostringstream md;
  md << "# Pre-rank ablation\n\n"
     << "- data: `" << a.data << "`, test split (" << test.size() << " judged queries)\n"
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
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4f", bm25.recall);
  md << "| BM25 alone | " << buf << " | | ";
  std::snprintf(buf, sizeof buf, "%.4f", bm25.ndcg10);
  md << buf << " | | | | |\n";
  auto col = [](const std::vector<RunMetrics>& v, double RunMetrics::*f) {
    std::vector<double> x;
    for (const auto& m : v) x.push_back(m.*f);
    return x;
  };
  std::vector<std::string> labels;
  std::vector<std::vector<std::vector<double>>> chart;
  for (const auto& v : variants) {
    const auto& f = fused[v.label()];
    const auto& s = alone[v.label()];
    md << "| " << v.label() << " | " << pm(col(f, &RunMetrics::recall)) << " | " << pm(col(s, &RunMetrics::recall))
       << " | " << pm(col(f, &RunMetrics::ndcg10)) << " | " << pm(col(s, &RunMetrics::ndcg10)) << " | "
       << pm(col(s, &RunMetrics::click_auc)) << " | " << pm(col(s, &RunMetrics::gauc)) << " | "
       << pm(col(s, &RunMetrics::label_auc)) << " |\n";
    labels.push_back(v.label());
    chart.push_back({col(f, &RunMetrics::recall), col(s, &RunMetrics::recall), col(f, &RunMetrics::ndcg10)});
  }
  md << "\nAUCs are of the student's own score (click AUC and GAUC on logged impressions of test queries, label AUC "
        "on human labels). Plot: `ablation.svg`. Every run: `ablation.json`, `runs/*/result.json`.\n";
  {
    detail::AtomicFile f(out / "ablation.md");
    f.stream() << md.str();
    f.commit();
  }
  {
    detail::AtomicFile f(out / "ablation.json");
    f.stream() << json{{"bm25", {{"recall", bm25.recall}, {"ndcg@10", bm25.ndcg10}}}, {"depth", a.depth},
                       {"keep", a.keep}, {"runs", runs}}.dump(2)
               << '\n';
    f.commit();
  }
  {
    detail::AtomicFile f(out / "ablation.svg");
    f.stream() << svg_chart(labels, chart,
                            {"Recall@" + std::to_string(a.keep) + " fused", "Recall@" + std::to_string(a.keep) + " student alone",
                             "nDCG@10 fused"},
                            {bm25.recall, bm25.recall, bm25.ndcg10}, "Pre-rank ablation (mean over seeds)",
                            "dashed: BM25 alone at the same depth (same colour = same metric)");
    f.commit();
  }
  std::printf("%s", md.str().c_str());
}

}  // namespace funnel::cli
