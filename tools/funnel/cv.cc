// `funnel eval --cv K --data DIR`: k-fold cross-validation of the whole
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
#include "cv.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>

#include "ablation_util.h"
#include "funnel/error.h"
#include "funnel/eval.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "model/features.h"
#include "model/prerank_stage.h"
#include "train/prerank_trainer.h"
#include "train/rank_trainer.h"
#include "util/fs.h"
#include "util/rng.h"

namespace funnel::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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

void write_qrels(const fs::path& path, const std::vector<std::pair<std::string, metrics::Judgments>>& q) {
  detail::AtomicFile f(path);
  f.stream() << "query-id\tcorpus-id\tscore\n";
  for (const auto& [qid, j] : q) {
    std::vector<std::pair<std::string, int>> docs(j.begin(), j.end());
    std::sort(docs.begin(), docs.end());
    for (const auto& [d, g] : docs) f.stream() << qid << '\t' << d << '\t' << g << '\n';
  }
  f.commit();
}

void write_queries(const fs::path& path, const std::vector<Query>& qs) {
  detail::AtomicFile f(path);
  for (const auto& q : qs) f.stream() << json{{"_id", q.id}, {"text", q.text}}.dump() << '\n';
  f.commit();
}

json cascade(std::size_t depth, std::size_t keep, const fs::path& models, const fs::path& corpus, bool with_rank) {
  json stages = {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", depth}}}}},
                 {{"name", "prerank"}, {"type", "prerank"}, {"keep", keep}, {"models", fs::absolute(models).string()}}};
  if (with_rank)
    stages.push_back({{"name", "rank"}, {"type", "rank"}, {"keep", keep}, {"models", fs::absolute(models).string()},
                      {"corpus", fs::absolute(corpus).string()}});
  return {{"stages", stages}};
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

}  // namespace

void run_cv(const CvOptions& o) {
  const fs::path data(o.data), out(o.out);
  if (!fs::is_directory(data)) throw Error(o.data + ": data folder not found");
  if (o.folds < 2) throw Error("--cv: at least 2 folds");
  detail::check_output_not_input(out, data);
  if (fs::exists(out) && !fs::is_empty(out)) {
    if (!o.force) throw Error(o.out + ": exists and is not empty (pass --force to replace it)");
    // --force replaces only what an earlier `--cv` wrote there.
    if (!fs::exists(out / "cv.json") && !fs::exists(out / "index-bm25"))
      throw Error(o.out + ": not a cross-validation folder (no cv.json or index-bm25); refusing to replace it");
  }
  std::error_code ec;
  fs::remove_all(out, ec);
  fs::create_directories(out);
  model::register_model_stages();
  auto log = [](const std::string& s) { std::fprintf(stderr, "cv: %s\n", s.c_str()); };
  log("reading " + o.data);
  Dataset ds = load_dataset(data);
  // Every judged query with a relevant doc, from all qrels files.
  Qrels judged;
  for (const char* split : {"train", "dev", "test"})
    if (fs::exists(data / "qrels" / (std::string(split) + ".tsv")))
      for (auto& [q, j] : load_qrels(data, split))
        for (auto& [d, g] : j) judged[q][d] = g;
  std::vector<std::string> ids;
  std::unordered_map<std::string, const Query*> by_id;
  for (const auto& q : ds.queries) by_id[q.id] = &q;
  for (auto& [q, j] : judged)
    if (by_id.count(q) && std::any_of(j.begin(), j.end(), [](const auto& kv) { return kv.second > 0; })) ids.push_back(q);
  std::sort(ids.begin(), ids.end());
  if (ids.size() < static_cast<std::size_t>(o.folds))
    throw Error(o.data + ": " + std::to_string(ids.size()) + " judged queries, fewer than --cv " + std::to_string(o.folds));
  detail::Rng rng(o.seed);
  for (std::size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[rng.below(i)]);
  // Pseudo-queries, one per doc with a title or text.
  std::vector<Query> pseudo;
  std::vector<std::pair<std::string, metrics::Judgments>> pseudo_qrels;
  if (o.pseudo_queries)
    for (const auto& d : ds.corpus.docs) {
      std::string t = pseudo_query(d);
      if (t.empty()) continue;
      pseudo.push_back({"pseudo-" + d.id, t});
      pseudo_qrels.push_back({"pseudo-" + d.id, {{d.id, 1}}});
    }
  log(std::to_string(ids.size()) + " judged queries in " + std::to_string(o.folds) + " folds; " +
      std::to_string(pseudo.size()) + " pseudo-queries for the pre-ranker");

  const fs::path bm25_index = out / "index-bm25";
  {
    IndexOptions io;
    io.overwrite = true;
    build_index(ds.corpus, bm25_index, io);
  }
  json folds = json::array();
  std::vector<double> cascade_ndcg, bm25_ndcg, prerank_ndcg, rank_alone;
  for (int f = 0; f < o.folds; ++f) {
    std::vector<std::string> test_ids, fit_ids, train_ids, dev_ids;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (static_cast<int>(i % static_cast<std::size_t>(o.folds)) == f) test_ids.push_back(ids[i]);
      else fit_ids.push_back(ids[i]);
    }
    if (fit_ids.size() < 3)
      throw Error(o.data + ": fold " + std::to_string(f + 1) + " leaves " + std::to_string(fit_ids.size()) +
                  " training queries, fewer than 3 (use fewer --cv folds)");
    // A fifth of the training queries (at least 2, at most all but one) are
    // the pre-ranker's dev (and the ranker's, without inner folds).
    const std::size_t n_dev = std::min(fit_ids.size() - 1, std::max<std::size_t>(2, fit_ids.size() / 5));
    train_ids.assign(fit_ids.begin(), fit_ids.end() - static_cast<std::ptrdiff_t>(n_dev));
    dev_ids.assign(fit_ids.end() - static_cast<std::ptrdiff_t>(n_dev), fit_ids.end());
    const fs::path fold = out / ("fold-" + std::to_string(f + 1));
    const fs::path fdata = fold / "data", models = fold / "models";
    fs::create_directories(fdata / "qrels");
    fs::copy_file(data / "corpus.jsonl", fdata / "corpus.jsonl");
    std::vector<Query> qs = ds.queries;
    qs.insert(qs.end(), pseudo.begin(), pseudo.end());
    write_queries(fdata / "queries.jsonl", qs);
    auto pick = [&](const std::vector<std::string>& v) {
      std::vector<std::pair<std::string, metrics::Judgments>> r;
      for (const auto& q : v) r.push_back({q, judged.at(q)});
      return r;
    };
    write_qrels(fdata / "qrels" / "test.tsv", pick(test_ids));
    const std::string name = "fold " + std::to_string(f + 1);
    train::RankTrainOptions r = o.rank;
    r.seed = o.seed + static_cast<std::uint64_t>(f);
    auto quiet = [&](const std::string& l) {
      if (o.verbose) log(l);
    };
    // The ranker learns from the real training queries only.
    RankerChoice choice;
    const int inner = std::min<int>(o.inner_folds, static_cast<int>(fit_ids.size()));
    if (inner >= 2) {
      log(name + "/" + std::to_string(o.folds) + ": " + std::to_string(fit_ids.size()) + " training queries (" +
          std::to_string(inner) + " inner folds choose the ranker's epoch and BM25 weight), " +
          std::to_string(test_ids.size()) + " test queries");
      choice = cross_fit_ranker(fdata, fold, fit_ids, inner, r, pick, quiet, [&](const std::string& l) { log(name + ": " + l); });
      write_qrels(fdata / "qrels" / "train.tsv", pick(fit_ids));
      fs::remove(fdata / "qrels" / "dev.tsv");
      log(name + ": ranker on all " + std::to_string(fit_ids.size()) + " training queries, " +
          std::to_string(choice.epoch) + " epoch(s)");
      r.epochs = choice.epoch;
      r.fusion_weight = choice.weight;
      r.fusion_source = "pooled dev lists of " + std::to_string(inner) + " inner folds, " +
                        std::to_string(choice.dev_lists) + " queries (funnel eval --cv)";
      train::train_rank(fdata, models, r, quiet);
    } else {
      log(name + "/" + std::to_string(o.folds) + ": " + std::to_string(train_ids.size()) + " train, " +
          std::to_string(dev_ids.size()) + " dev, " + std::to_string(test_ids.size()) + " test queries; ranker");
      write_qrels(fdata / "qrels" / "train.tsv", pick(train_ids));
      write_qrels(fdata / "qrels" / "dev.tsv", pick(dev_ids));
      const auto rr = train::train_rank(fdata, models, r, quiet);
      choice = {rr.best_epoch, rr.fusion_weight, rr.best_dev_ndcg, rr.best_ranker_ndcg, rr.bm25_dev_ndcg, rr.dev_lists};
    }
    // The pre-ranker also learns from the pseudo-queries.
    {
      auto tq = pick(train_ids);
      tq.insert(tq.end(), pseudo_qrels.begin(), pseudo_qrels.end());
      write_qrels(fdata / "qrels" / "train.tsv", tq);
      write_qrels(fdata / "qrels" / "dev.tsv", pick(dev_ids));
    }
    log(name + ": pre-ranker");
    train::PrerankTrainOptions p = o.prerank;
    p.seed = o.seed + static_cast<std::uint64_t>(f);
    p.cascade_depth = o.depth;
    p.cascade_keep = o.keep;
    auto pr = train::train_prerank(fdata, models, p, quiet);
    fs::copy(bm25_index, fold / "index", fs::copy_options::recursive);
    auto enc = model::make_doc_encoder(models);
    refresh_embeddings(fold / "index", ds.corpus, *enc, Precision::kFp32);
    auto index = Index::open(fold / "index");
    Qrels test;
    for (const auto& q : test_ids) test[q] = judged.at(q);
    EvalOptions eo;
    eo.k = o.keep;
    EvalResult full, pre, bm25;
    {
      Pipeline pl(index, cascade(o.depth, o.keep, models, fdata / "corpus.jsonl", true), "cv cascade");
      full = evaluate(pl, ds.queries, test, eo);
    }
    {
      Pipeline pl(index, cascade(o.depth, o.keep, models, fdata / "corpus.jsonl", false), "cv cascade");
      pre = evaluate(pl, ds.queries, test, eo);
    }
    {
      EvalOptions bo;
      bo.k = 1000;
      Pipeline pl(index, default_cascade(1000, 1000), "bm25");
      bm25 = evaluate(pl, ds.queries, test, bo);
    }
    cascade_ndcg.push_back(full.ndcg10);
    prerank_ndcg.push_back(pre.ndcg10);
    bm25_ndcg.push_back(bm25.ndcg10);
    auto num = [](double x) { return std::isnan(x) ? json() : json(x); };
    folds.push_back({{"fold", f + 1}, {"test_queries", test_ids.size()}, {"ranker_train_queries", fit_ids.size()},
                     {"prerank_train_queries", train_ids.size()},
                     {"dev_queries", dev_ids.size()}, {"cascade_ndcg@10", full.ndcg10}, {"prerank_ndcg@10", pre.ndcg10},
                     {"bm25_ndcg@10", bm25.ndcg10}, {"cascade_recall@100", full.recall100},
                     {"bm25_recall@100", bm25.recall100}, {"ranker_dev_ndcg@10", num(choice.ndcg)},
                     {"ranker_alone_dev_ndcg@10", num(choice.alone_ndcg)}, {"ranker_dev_bm25_ndcg@10", num(choice.bm25_ndcg)},
                     {"ranker_dev_queries", choice.dev_lists}, {"ranker_epoch", choice.epoch},
                     {"rank_fusion_weight", choice.weight}, {"ranker_inner_folds", inner >= 2 ? inner : 0},
                     {"prerank_fusion_weight", pr.fusion_weight},
                     {"consistency_prerank_rank", num(full.consistency_prerank_rank)}});
    char buf[200];
    std::snprintf(buf, sizeof buf, "fold %d: nDCG@10 cascade %.4f, pre-rank only %.4f, BM25 %.4f", f + 1, full.ndcg10,
                  pre.ndcg10, bm25.ndcg10);
    log(buf);
    if (!o.keep_models) fs::remove_all(fold / "index", ec);
  }
  auto [cm, cs] = mean_sd(cascade_ndcg);
  auto [bm, bs] = mean_sd(bm25_ndcg);
  auto [pm_, ps] = mean_sd(prerank_ndcg);
  json res = {{"cv",
               {{"folds", o.folds},
                {"queries", ids.size()},
                {"seed", o.seed},
                {"cascade", {{"ndcg@10", cm}, {"sd", cs}, {"per_fold", cascade_ndcg}}},
                {"prerank", {{"ndcg@10", pm_}, {"sd", ps}, {"per_fold", prerank_ndcg}}},
                {"bm25", {{"ndcg@10", bm}, {"sd", bs}, {"per_fold", bm25_ndcg}}},
                {"fold_details", folds},
                {"pseudo_queries", pseudo.size()},
                {"ranker", std::string(o.rank.use_text ? "text tower + cross features" : "cross features only (--cv-text adds the text tower)") +
                               ", " + std::to_string(o.rank.epochs) + " epochs x " + std::to_string(o.rank.steps_per_epoch) +
                               " steps"},
                {"cascade_config", "BM25 top " + std::to_string(o.depth) + " -> pre-rank keeps " + std::to_string(o.keep) +
                                       " -> rank"},
                {"inner_folds", o.inner_folds >= 2 ? o.inner_folds : 0},
                {"training", std::string(o.inner_folds >= 2
                                             ? "ranker: all real training-fold queries, its epoch and BM25 weight chosen on "
                                               "the pooled dev lists of " + std::to_string(o.inner_folds) +
                                                   " inner folds of them"
                                             : "ranker: real training-fold queries, epoch and BM25 weight chosen on a "
                                               "fifth of them (dev)") +
                                 "; pre-ranker: real training-fold queries + " + std::to_string(pseudo.size()) +
                                 " pseudo-queries (a doc's title, else its first sentence up to 12 words, as a query for "
                                 "that doc), dev: a fifth of the training-fold queries"}}}};
  std::ostringstream md;
  md << "# Cross-validation: `" << o.data << "`\n\n"
     << "- " << ids.size() << " judged queries, " << o.folds << " folds by query (seed " << o.seed << ")\n"
     << "- cascade: BM25 top " << o.depth << " -> pre-rank keeps " << o.keep << " -> rank\n"
     << "- " << res["cv"]["training"].get<std::string>() << "\n"
     << "- ranker: " << res["cv"]["ranker"].get<std::string>() << "\n\n"
     << "| fold | test queries | cascade nDCG@10 | pre-rank only | BM25 | ranker epoch, BM25 weight |\n"
     << "|---|---|---|---|---|---|\n";
  for (std::size_t i = 0; i < folds.size(); ++i) {
    char buf[240];
    std::snprintf(buf, sizeof buf, "| %zu | %zu | %.4f | %.4f | %.4f | %d, %g |\n", i + 1,
                  folds[i]["test_queries"].get<std::size_t>(), cascade_ndcg[i], prerank_ndcg[i], bm25_ndcg[i],
                  folds[i]["ranker_epoch"].get<int>(), folds[i]["rank_fusion_weight"].get<double>());
    md << buf;
  }
  md << "| mean ± sd | | " << pm(cascade_ndcg) << " | " << pm(prerank_ndcg) << " | " << pm(bm25_ndcg) << " | |\n";
  {
    detail::AtomicFile f(out / "cv.md");
    f.stream() << md.str();
    f.commit();
  }
  {
    detail::AtomicFile f(out / "cv.json");
    f.stream() << res.dump(2) << '\n';
    f.commit();
  }
  if (o.json) std::printf("%s\n", res.dump(2).c_str());
  else std::printf("%s", md.str().c_str());
}

}  // namespace funnel::cli
