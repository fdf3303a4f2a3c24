// `funnel eval --cv K --data DIR`: k-fold cross-validation of the whole
// cascade on a labels-only collection (BEIR: no logs, one qrels file).
// The judged queries are split into K folds by query. For each fold the
// ranker and the pre-ranker are trained on the other folds (a fifth of those
// queries held out as dev, for epoch choice and the pre-rank fusion weight),
// and the cascade BM25 top `depth` -> pre-rank keeps `keep` -> rank is
// evaluated on the fold, next to BM25 alone on the same queries.
// Judged queries are few (MED: 30), so the pre-ranker also learns from
// pseudo-queries made from the docs themselves: the title, else the first
// sentence (at most 12 words), as a query for its own doc.
#include "cv.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
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

}  // namespace

void run_cv(const CvOptions& o) {
  const fs::path data(o.data), out(o.out);
  if (!fs::is_directory(data)) throw Error(o.data + ": data folder not found");
  if (o.folds < 2) throw Error("--cv: at least 2 folds");
  if (fs::exists(out) && !fs::is_empty(out) && !o.force)
    throw Error(o.out + ": exists and is not empty (pass --force to replace it)");
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
    std::vector<std::string> test_ids, train_ids, dev_ids;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (static_cast<int>(i % static_cast<std::size_t>(o.folds)) == f) test_ids.push_back(ids[i]);
      else train_ids.push_back(ids[i]);
    }
    // A fifth of the training queries (at least 2) are dev.
    const std::size_t n_dev = std::max<std::size_t>(2, train_ids.size() / 5);
    dev_ids.assign(train_ids.end() - static_cast<std::ptrdiff_t>(n_dev), train_ids.end());
    train_ids.resize(train_ids.size() - n_dev);
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
    write_qrels(fdata / "qrels" / "dev.tsv", pick(dev_ids));
    write_qrels(fdata / "qrels" / "test.tsv", pick(test_ids));
    // The ranker learns from the real training queries only.
    write_qrels(fdata / "qrels" / "train.tsv", pick(train_ids));
    log("fold " + std::to_string(f + 1) + "/" + std::to_string(o.folds) + ": " + std::to_string(train_ids.size()) +
        " train, " + std::to_string(dev_ids.size()) + " dev, " + std::to_string(test_ids.size()) + " test queries; ranker");
    train::RankTrainOptions r = o.rank;
    r.seed = o.seed + static_cast<std::uint64_t>(f);
    auto rr = train::train_rank(fdata, models, r, [&](const std::string& l) {
      if (o.verbose) log(l);
    });
    // The pre-ranker also learns from the pseudo-queries.
    {
      auto tq = pick(train_ids);
      tq.insert(tq.end(), pseudo_qrels.begin(), pseudo_qrels.end());
      write_qrels(fdata / "qrels" / "train.tsv", tq);
    }
    log("fold " + std::to_string(f + 1) + ": pre-ranker");
    train::PrerankTrainOptions p = o.prerank;
    p.seed = o.seed + static_cast<std::uint64_t>(f);
    p.cascade_depth = o.depth;
    p.cascade_keep = o.keep;
    auto pr = train::train_prerank(fdata, models, p, [&](const std::string& l) {
      if (o.verbose) log(l);
    });
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
    folds.push_back({{"fold", f + 1}, {"test_queries", test_ids.size()}, {"train_queries", train_ids.size()},
                     {"dev_queries", dev_ids.size()}, {"cascade_ndcg@10", full.ndcg10}, {"prerank_ndcg@10", pre.ndcg10},
                     {"bm25_ndcg@10", bm25.ndcg10}, {"cascade_recall@100", full.recall100},
                     {"bm25_recall@100", bm25.recall100}, {"ranker_dev_ndcg@10", num(rr.best_dev_ndcg)},
                     {"ranker_dev_bm25_ndcg@10", num(rr.bm25_dev_ndcg)}, {"prerank_fusion_weight", pr.fusion_weight},
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
                {"ranker", std::string(o.rank.use_text ? "text tower + cross features" : "cross features only (--cv-no-text)") +
                               ", " + std::to_string(o.rank.epochs) + " epochs x " + std::to_string(o.rank.steps_per_epoch) +
                               " steps"},
                {"cascade_config", "BM25 top " + std::to_string(o.depth) + " -> pre-rank keeps " + std::to_string(o.keep) +
                                       " -> rank"},
                {"training", "ranker: real training-fold queries; pre-ranker: real training-fold queries + " +
                                 std::to_string(pseudo.size()) + " pseudo-queries (a doc's title, else its first sentence "
                                 "up to 12 words, as a query for that doc); dev: a fifth of the training-fold queries"}}}};
  std::ostringstream md;
  md << "# Cross-validation: `" << o.data << "`\n\n"
     << "- " << ids.size() << " judged queries, " << o.folds << " folds by query (seed " << o.seed << ")\n"
     << "- cascade: BM25 top " << o.depth << " -> pre-rank keeps " << o.keep << " -> rank\n"
     << "- " << res["cv"]["training"].get<std::string>() << "\n"
     << "- ranker: " << res["cv"]["ranker"].get<std::string>() << "\n\n"
     << "| fold | queries | cascade nDCG@10 | pre-rank only | BM25 |\n|---|---|---|---|---|\n";
  for (std::size_t i = 0; i < folds.size(); ++i) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "| %zu | %zu | %.4f | %.4f | %.4f |\n", i + 1,
                  folds[i]["test_queries"].get<std::size_t>(), cascade_ndcg[i], prerank_ndcg[i], bm25_ndcg[i]);
    md << buf;
  }
  md << "| mean ± sd | | " << pm(cascade_ndcg) << " | " << pm(prerank_ndcg) << " | " << pm(bm25_ndcg) << " |\n";
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
