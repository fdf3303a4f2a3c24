// `funnel experiment cv --folds K --data DIR`: k-fold cross-validation of the whole
// cascade on a labels-only collection (BEIR: no logs, one qrels file).
// The judged queries are split into K folds by query. For each fold the
// ranker and the pre-ranker are trained on the other folds, and the cascade
// BM25 top `depth` -> pre-rank keeps `keep` -> rank is evaluated on the
// fold, next to BM25 alone on the same queries. The ranker's epoch and BM25
// fusion weight are chosen on the pooled dev lists of inner folds of the
// training queries (cross_fit_ranker), the pre-ranker's on a fifth of them.
// Judged queries are few (MED: 30), so the pre-ranker also learns from
// pseudo-queries made from the docs themselves: the title, else the first
// sentence (at most 12 words), as a query for its own doc.
#include "experiments/cv.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "experiments/report.h"
#include "funnel/error.h"
#include "funnel/eval.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "util/fs.h"
#include "util/rng.h"

namespace funnel::experiments {
namespace fs = std::filesystem;
using nlohmann::json;

JudgedQueries read_judged_queries(const std::string& data_dir, std::size_t max_queries,
                                  const std::function<void(const std::string&)>& log) {
  const fs::path data(data_dir);
  JudgedQueries s;
  log("reading " + data_dir);
  s.ds = load_dataset(data);
  for (const char* split : {"train", "dev", "test"})
    if (fs::exists(data / "qrels" / (std::string(split) + ".tsv")))
      for (auto& [q, j] : load_qrels(data, split))
        for (auto& [d, g] : j) s.judged[q][d] = g;
  std::unordered_map<std::string, const Query*> by_id;
  for (const auto& q : s.ds.queries) by_id[q.id] = &q;
  for (auto& [q, j] : s.judged)
    if (by_id.count(q) && std::any_of(j.begin(), j.end(), [](const auto& kv) { return kv.second > 0; })) s.ids.push_back(q);
  std::sort(s.ids.begin(), s.ids.end());
  if (max_queries > 0 && s.ids.size() > max_queries) {
    const std::size_t all = s.ids.size();
    std::vector<std::string> sample;
    for (std::size_t i = 0; i < max_queries; ++i) sample.push_back(s.ids[i * all / max_queries]);
    log("a fixed sample of " + std::to_string(sample.size()) + " of the " + std::to_string(all) +
        " judged queries (evenly spaced by id, --max-queries)");
    s.ids = std::move(sample);
  }
  return s;
}

std::vector<std::string> shuffle_for_folds(std::vector<std::string> ids, std::uint64_t seed) {
  detail::Rng rng(seed);
  for (std::size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[rng.below(i)]);
  return ids;
}

CvOptions default_cv_options() {
  CvOptions o;
  o.prerank.preset = "tiny";
  o.prerank.matcher = "dot";
  o.prerank.use_image = false;
  o.prerank.epochs = 2;
  o.prerank.steps_per_epoch = 300;
  o.rank.preset = "tiny";
  o.rank.use_text = false;
  o.rank.epochs = 10;
  o.rank.steps_per_epoch = 300;
  o.rank.dev_queries = 1000;
  o.rank.stored_depth = 0;
  return o;
}

namespace {

using QrelsList = std::vector<std::pair<std::string, metrics::Judgments>>;

// The title, else the first sentence of the text, cut to 12 words; "" if
// the doc has neither.
std::string pseudo_query(const Doc& d) {
  std::string src = d.title;
  if (src.find_first_not_of(" \t") == std::string::npos) {
    src = d.text;
    for (const char* stop : {". ", "? ", "! ", "\n"}) {
      auto p = src.find(stop);
      if (p != std::string::npos) src = src.substr(0, p);
    }
  }
  std::istringstream in(src);
  std::string w, out;
  for (int n = 0; n < 12 && in >> w; ++n) out += (out.empty() ? "" : " ") + w;
  return out;
}

// The ranker's epoch and BM25 fusion weight (rank_fusion_grid()), and the
// pooled dev nDCG@10 they reach.
struct RankerChoice {
  int epoch = 1;
  double weight = 0;
  double ndcg = std::nan(""), alone_ndcg = std::nan(""), bm25_ndcg = std::nan("");
  std::size_t dev_lists = 0;
};

using Picker = std::function<std::vector<std::pair<std::string, metrics::Judgments>>(const std::vector<std::string>&)>;

// Chooses the epoch and weight on every training query instead of a fifth
// of them: the queries are split into `inner` folds, a ranker is trained on
// all but one and checked on that one (BM25 top candidate_depth re-ranked),
// and the (epoch, weight) with the best nDCG@10 pooled over all inner dev
// lists wins (ties go to the earlier epoch and the smaller weight). With a
// dozen dev queries the pick was noise: on CISI it often chose a weight
// that lost to BM25 on the test fold. Inner models are removed.
RankerChoice cross_fit_ranker(const fs::path& fdata, const fs::path& fold, const std::vector<std::string>& ids, int inner,
                              const train::RankTrainOptions& r, const Picker& pick,
                              const std::function<void(const std::string&)>& verbose,
                              const std::function<void(const std::string&)>& log) {
  const auto& grid = train::rank_fusion_grid();
  std::vector<std::vector<double>> pooled(static_cast<std::size_t>(r.epochs), std::vector<double>(grid.size(), 0.0));
  double bm25 = 0;
  std::size_t lists = 0;
  for (int j = 0; j < inner; ++j) {
    std::vector<std::string> tr, dv;
    for (std::size_t i = 0; i < ids.size(); ++i) (static_cast<int>(i % static_cast<std::size_t>(inner)) == j ? dv : tr).push_back(ids[i]);
    write_qrels(fdata / "qrels" / "train.tsv", pick(tr));
    write_qrels(fdata / "qrels" / "dev.tsv", pick(dv));
    const fs::path dir = fold / ("inner-" + std::to_string(j + 1));
    const auto res = train::train_rank(fdata, dir, r, verbose);
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (res.dev_lists == 0) continue;
    const double n = static_cast<double>(res.dev_lists);
    for (std::size_t e = 0; e < res.epochs.size() && e < pooled.size(); ++e)
      for (std::size_t w = 0; w < grid.size() && w < res.epochs[e].grid_ndcg.size(); ++w) pooled[e][w] += n * res.epochs[e].grid_ndcg[w];
    bm25 += n * res.bm25_dev_ndcg;
    lists += res.dev_lists;
    char buf[160];
    std::snprintf(buf, sizeof buf, "inner fold %d/%d: %zu dev queries, best fused dev nDCG@10 %.4f (BM25 %.4f)", j + 1, inner,
                  res.dev_lists, res.best_dev_ndcg, res.bm25_dev_ndcg);
    log(buf);
  }
  RankerChoice c;
  if (lists == 0) throw Error(fdata.string() + ": the inner folds' dev checks scored no dev query");
  c.dev_lists = lists;
  c.bm25_ndcg = bm25 / static_cast<double>(lists);
  double best = -1;
  for (std::size_t e = 0; e < pooled.size(); ++e)
    for (std::size_t w = 0; w < grid.size(); ++w) {
      const double v = pooled[e][w] / static_cast<double>(lists);
      if (v > best + 1e-9) {
        best = v;
        c.epoch = static_cast<int>(e) + 1;
        c.weight = grid[w];
        c.alone_ndcg = pooled[e][0] / static_cast<double>(lists);
      }
    }
  c.ndcg = best;
  char buf[200];
  std::snprintf(buf, sizeof buf, "pooled over %zu dev queries: epoch %d, BM25 weight %g: nDCG@10 %.4f (ranker alone %.4f, BM25 %.4f)",
                lists, c.epoch, c.weight, c.ndcg, c.alone_ndcg, c.bm25_ndcg);
  log(buf);
  return c;
}

// What every fold shares: the data, the judged queries in fold order, the
// pseudo-queries and the BM25 index.
struct CvSetup {
  Dataset ds;
  Qrels judged;                  // every judged query with a relevant doc, all qrels files
  std::vector<std::string> ids;  // their ids, shuffled by the seed; fold f holds every folds-th from f
  std::vector<Query> pseudo;
  QrelsList pseudo_qrels;
  fs::path bm25_index;
  QrelsList pick(const std::vector<std::string>& v) const {
    QrelsList r;
    for (const auto& q : v) r.push_back({q, judged.at(q)});
    return r;
  }
};

// Checks the options and the output folder (an earlier cv folder is replaced
// only with --force), reads the data and builds the shared BM25 index.
CvSetup prepare(const CvOptions& o, const std::function<void(const std::string&)>& log) {
  const fs::path data(o.data), out(o.out);
  if (!fs::is_directory(data)) throw Error(o.data + ": data folder not found");
  if (o.folds < 2) throw Error("--folds: at least 2");
  detail::check_output_not_input(out, data);
  if (fs::exists(out) && !fs::is_empty(out)) {
    if (!o.force) throw Error(o.out + ": exists and is not empty (pass --force to replace it)");
    if (!fs::exists(out / "cv.json") && !fs::exists(out / "index-bm25"))
      throw Error(o.out + ": not a cross-validation folder (no cv.json or index-bm25); refusing to replace it");
  }
  CvSetup s;
  JudgedQueries j = read_judged_queries(o.data, o.max_queries, log);
  s.ds = std::move(j.ds);
  s.judged = std::move(j.judged);
  if (j.ids.size() < static_cast<std::size_t>(o.folds))
    throw Error(o.data + ": " + std::to_string(j.ids.size()) + " judged queries, fewer than --folds " +
                std::to_string(o.folds));
  s.ids = shuffle_for_folds(std::move(j.ids), o.seed);
  if (o.pseudo_queries)
    for (const auto& d : s.ds.corpus.docs) {
      const std::string t = pseudo_query(d);
      if (t.empty()) continue;
      s.pseudo.push_back({"pseudo-" + d.id, t});
      s.pseudo_qrels.push_back({"pseudo-" + d.id, {{d.id, 1}}});
    }
  log(std::to_string(s.ids.size()) + " judged queries in " + std::to_string(o.folds) + " folds; " +
      std::to_string(s.pseudo.size()) + " pseudo-queries for the pre-ranker");
  std::error_code ec;
  fs::remove_all(out, ec);
  fs::create_directories(out);
  s.bm25_index = out / "index-bm25";
  IndexOptions io;
  io.overwrite = true;
  build_index(s.ds.corpus, s.bm25_index, io);
  return s;
}

// One fold's query split.
struct FoldSplit {
  std::vector<std::string> test, fit, train, dev;  // fit = train + dev (the ranker's), train/dev the pre-ranker's
};

FoldSplit split_fold(const CvOptions& o, const CvSetup& s, int f) {
  FoldSplit q;
  for (std::size_t i = 0; i < s.ids.size(); ++i)
    (static_cast<int>(i % static_cast<std::size_t>(o.folds)) == f ? q.test : q.fit).push_back(s.ids[i]);
  if (q.fit.size() < 3)
    throw Error(o.data + ": fold " + std::to_string(f + 1) + " leaves " + std::to_string(q.fit.size()) +
                " training queries, fewer than 3 (use fewer --folds)");
  // A fifth of the training queries (at least 2, at most all but one) are
  // the pre-ranker's dev (and the ranker's, without inner folds).
  const std::size_t n_dev = std::min(q.fit.size() - 1, std::max<std::size_t>(2, q.fit.size() / 5));
  q.train.assign(q.fit.begin(), q.fit.end() - static_cast<std::ptrdiff_t>(n_dev));
  q.dev.assign(q.fit.end() - static_cast<std::ptrdiff_t>(n_dev), q.fit.end());
  return q;
}

// Trains the fold's ranker into `models` (real training queries only) and
// returns what chose its epoch and fusion weight.
RankerChoice train_fold_ranker(const CvOptions& o, const CvSetup& s, const FoldSplit& q, int f, const fs::path& fold,
                               const std::function<void(const std::string&)>& log, int& inner) {
  const fs::path fdata = fold / "data", models = fold / "models";
  const std::string name = "fold " + std::to_string(f + 1);
  train::RankTrainOptions r = o.rank;
  r.seed = o.seed + static_cast<std::uint64_t>(f);
  auto quiet = [&](const std::string& l) {
    if (o.verbose) log(l);
  };
  auto pick = [&](const std::vector<std::string>& v) { return s.pick(v); };
  inner = std::min<int>(o.inner_folds, static_cast<int>(q.fit.size()));
  if (inner < 2) {
    inner = 0;
    log(name + "/" + std::to_string(o.folds) + ": " + std::to_string(q.train.size()) + " train, " +
        std::to_string(q.dev.size()) + " dev, " + std::to_string(q.test.size()) + " test queries; ranker");
    write_qrels(fdata / "qrels" / "train.tsv", pick(q.train));
    write_qrels(fdata / "qrels" / "dev.tsv", pick(q.dev));
    const auto rr = train::train_rank(fdata, models, r, quiet);
    return {rr.best_epoch, rr.fusion_weight, rr.best_dev_ndcg, rr.best_ranker_ndcg, rr.bm25_dev_ndcg, rr.dev_lists};
  }
  log(name + "/" + std::to_string(o.folds) + ": " + std::to_string(q.fit.size()) + " training queries (" +
      std::to_string(inner) + " inner folds choose the ranker's epoch and BM25 weight), " +
      std::to_string(q.test.size()) + " test queries");
  const RankerChoice choice =
      cross_fit_ranker(fdata, fold, q.fit, inner, r, pick, quiet, [&](const std::string& l) { log(name + ": " + l); });
  write_qrels(fdata / "qrels" / "train.tsv", pick(q.fit));
  fs::remove(fdata / "qrels" / "dev.tsv");
  log(name + ": ranker on all " + std::to_string(q.fit.size()) + " training queries, " + std::to_string(choice.epoch) +
      " epoch(s)");
  r.epochs = choice.epoch;
  r.fusion_weight = choice.weight;
  r.fusion_source = "pooled dev lists of " + std::to_string(inner) + " inner folds, " +
                    std::to_string(choice.dev_lists) + " queries (funnel experiment cv)";
  train::train_rank(fdata, models, r, quiet);
  return choice;
}

// The fold's cascade, pre-rank-only cascade and BM25 on its test queries.
json evaluate_fold(const CvOptions& o, const CvSetup& s, const FoldSplit& q, const fs::path& fold,
                   const RankerChoice& choice, int inner, double prerank_weight, int f,
                   const std::function<void(const std::string&)>& log) {
  const fs::path fdata = fold / "data", models = fold / "models";
  fs::copy(s.bm25_index, fold / "index", fs::copy_options::recursive);
  auto enc = load_doc_encoder(models);
  refresh_embeddings(fold / "index", s.ds.corpus, *enc, Precision::kFp32);
  auto index = Index::open(fold / "index");
  Qrels test;
  for (const auto& id : q.test) test[id] = s.judged.at(id);
  EvalOptions eo;
  eo.k = o.keep;
  auto run = [&](const json& cascade, std::size_t k) {
    EvalOptions e = eo;
    e.k = k;
    return evaluate(Pipeline(index, cascade, "cv cascade"), s.ds.queries, test, e);
  };
  CascadeSpec spec{o.depth, o.keep, models, std::nullopt, models, fdata / "corpus.jsonl", false};
  const EvalResult full = run(make_cascade(spec), o.keep);
  spec.rank_models.clear();
  const EvalResult pre = run(make_cascade(spec), o.keep);
  const EvalResult bm25 = run(default_cascade(1000, 1000), 1000);
  char buf[200];
  std::snprintf(buf, sizeof buf, "fold %d: nDCG@10 cascade %.4f, pre-rank only %.4f, BM25 %.4f", f + 1, full.ndcg10,
                pre.ndcg10, bm25.ndcg10);
  log(buf);
  if (!o.keep_models) {
    std::error_code ec;
    fs::remove_all(fold / "index", ec);
  }
  auto num = [](double x) { return std::isnan(x) ? json() : json(x); };
  return {{"fold", f + 1}, {"test_queries", q.test.size()}, {"ranker_train_queries", q.fit.size()},
          {"prerank_train_queries", q.train.size()}, {"dev_queries", q.dev.size()},
          {"cascade_ndcg@10", full.ndcg10}, {"prerank_ndcg@10", pre.ndcg10}, {"bm25_ndcg@10", bm25.ndcg10},
          {"cascade_recall@100", full.recall100}, {"bm25_recall@100", bm25.recall100},
          {"ranker_dev_ndcg@10", num(choice.ndcg)}, {"ranker_alone_dev_ndcg@10", num(choice.alone_ndcg)},
          {"ranker_dev_bm25_ndcg@10", num(choice.bm25_ndcg)}, {"ranker_dev_queries", choice.dev_lists},
          {"ranker_epoch", choice.epoch}, {"rank_fusion_weight", choice.weight}, {"ranker_inner_folds", inner},
          {"prerank_fusion_weight", prerank_weight}, {"consistency_prerank_rank", num(full.consistency_prerank_rank)}};
}

// One fold: its data folder, ranker, pre-ranker and evaluation.
json run_fold(const CvOptions& o, const CvSetup& s, int f, const std::function<void(const std::string&)>& log) {
  const FoldSplit q = split_fold(o, s, f);
  const fs::path fold = fs::path(o.out) / ("fold-" + std::to_string(f + 1));
  const fs::path fdata = fold / "data", models = fold / "models";
  fs::create_directories(fdata / "qrels");
  fs::copy_file(fs::path(o.data) / "corpus.jsonl", fdata / "corpus.jsonl");
  std::vector<Query> qs = s.ds.queries;
  qs.insert(qs.end(), s.pseudo.begin(), s.pseudo.end());
  write_queries(fdata / "queries.jsonl", qs);
  write_qrels(fdata / "qrels" / "test.tsv", s.pick(q.test));
  int inner = 0;
  const RankerChoice choice = train_fold_ranker(o, s, q, f, fold, log, inner);
  // The pre-ranker also learns from the pseudo-queries.
  QrelsList tq = s.pick(q.train);
  tq.insert(tq.end(), s.pseudo_qrels.begin(), s.pseudo_qrels.end());
  write_qrels(fdata / "qrels" / "train.tsv", tq);
  write_qrels(fdata / "qrels" / "dev.tsv", s.pick(q.dev));
  log("fold " + std::to_string(f + 1) + ": pre-ranker");
  train::PrerankTrainOptions p = o.prerank;
  p.seed = o.seed + static_cast<std::uint64_t>(f);
  p.cascade_depth = o.depth;
  p.cascade_keep = o.keep;
  const auto pr = train::train_prerank(fdata, models, p, [&](const std::string& l) {
    if (o.verbose) log(l);
  });
  return evaluate_fold(o, s, q, fold, choice, inner, pr.fusion_weight, f, log);
}

std::vector<double> column(const json& folds, const char* key) {
  std::vector<double> v;
  for (const auto& f : folds) v.push_back(f[key].get<double>());
  return v;
}

// OUT/cv.json and OUT/cv.md; returns the two.
std::pair<json, std::string> write_report(const CvOptions& o, const CvSetup& s, const json& folds) {
  const auto cascade = column(folds, "cascade_ndcg@10"), prerank = column(folds, "prerank_ndcg@10"),
             bm25 = column(folds, "bm25_ndcg@10");
  const std::string training =
      std::string(o.inner_folds >= 2 ? "ranker: all real training-fold queries, its epoch and BM25 weight chosen on "
                                       "the pooled dev lists of " + std::to_string(o.inner_folds) + " inner folds of them"
                                     : "ranker: real training-fold queries, epoch and BM25 weight chosen on a fifth of "
                                       "them (dev)") +
      "; pre-ranker: real training-fold queries + " + std::to_string(s.pseudo.size()) +
      " pseudo-queries (a doc's title, else its first sentence up to 12 words, as a query for that doc), dev: a fifth "
      "of the training-fold queries";
  const std::string ranker =
      std::string(o.rank.use_text ? "text tower + cross features" : "cross features only (--text adds the text tower)") +
      ", " + std::to_string(o.rank.epochs) + " epochs x " + std::to_string(o.rank.steps_per_epoch) + " steps";
  auto stat = [](const std::vector<double>& v) {
    auto [m, sd] = mean_sd(v);
    return json{{"ndcg@10", m}, {"sd", sd}, {"per_fold", v}};
  };
  const json res = {{"cv",
                     {{"folds", o.folds}, {"queries", s.ids.size()}, {"max_queries", o.max_queries}, {"seed", o.seed}, {"cascade", stat(cascade)},
                      {"prerank", stat(prerank)}, {"bm25", stat(bm25)}, {"fold_details", folds},
                      {"pseudo_queries", s.pseudo.size()}, {"ranker", ranker},
                      {"cascade_config", "BM25 top " + std::to_string(o.depth) + " -> pre-rank keeps " +
                                             std::to_string(o.keep) + " -> rank"},
                      {"inner_folds", o.inner_folds >= 2 ? o.inner_folds : 0}, {"training", training}}}};
  std::ostringstream md;
  md << "# Cross-validation: `" << o.data << "`\n\n"
     << "- " << s.ids.size() << " judged queries, " << o.folds << " folds by query (seed " << o.seed << ")\n"
     << "- cascade: BM25 top " << o.depth << " -> pre-rank keeps " << o.keep << " -> rank\n"
     << "- " << training << "\n"
     << "- ranker: " << ranker << "\n\n"
     << "| fold | test queries | cascade nDCG@10 | pre-rank only | BM25 | ranker epoch, BM25 weight |\n"
     << "|---|---|---|---|---|---|\n";
  for (std::size_t i = 0; i < folds.size(); ++i) {
    char buf[240];
    std::snprintf(buf, sizeof buf, "| %zu | %zu | %.4f | %.4f | %.4f | %d, %g |\n", i + 1,
                  folds[i]["test_queries"].get<std::size_t>(), cascade[i], prerank[i], bm25[i],
                  folds[i]["ranker_epoch"].get<int>(), folds[i]["rank_fusion_weight"].get<double>());
    md << buf;
  }
  md << "| mean ± sd | | " << pm(cascade) << " | " << pm(prerank) << " | " << pm(bm25) << " | |\n";
  write_text_file(fs::path(o.out) / "cv.md", md.str());
  write_text_file(fs::path(o.out) / "cv.json", res.dump(2) + "\n");
  return {res, md.str()};
}

}  // namespace

void run_cv(const CvOptions& o) {
  auto log = [](const std::string& line) { std::fprintf(stderr, "cv: %s\n", line.c_str()); };
  const CvSetup s = prepare(o, log);
  json folds = json::array();
  for (int f = 0; f < o.folds; ++f) folds.push_back(run_fold(o, s, f, log));
  const auto [res, md] = write_report(o, s, folds);
  if (o.json) std::printf("%s\n", res.dump(2).c_str());
  else std::printf("%s", md.c_str());
}

}  // namespace funnel::experiments
