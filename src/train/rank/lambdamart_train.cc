#include "train/rank/lambdamart_train.h"

#include <cmath>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "funnel/error.h"
#include "funnel/fusion.h"
#include "funnel/metrics.h"
#include "funnel/train.h"
#include "recall/rm3.h"
#include "util/fs.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The judged queries of `qrels` that have text, in id order, with their rows.
struct Split {
  std::vector<std::string> ids;
  std::vector<rank::RankRows> rows;
};

Split rows_of(const Dataset& ds, const Qrels& qrels, const rank::LexicalFeatureSet& f, std::size_t depth) {
  std::unordered_map<std::string, const Query*> by_id;
  for (const auto& q : ds.queries) by_id[q.id] = &q;
  Split s;
  for (const auto& [id, j] : qrels)
    if (by_id.count(id)) s.ids.push_back(id);
  std::sort(s.ids.begin(), s.ids.end());
  for (const auto& id : s.ids) s.rows.push_back(rank::rank_rows(f, by_id.at(id)->text, qrels.at(id), ds.corpus, depth));
  return s;
}

// Mean nDCG@10 over the split of the model fused at `w`; BM25's own order
// when `bm25_only`.
double mean_ndcg(const fusion::GbdtModel& m, const Split& s, const Qrels& qrels, const Corpus& corpus, double w,
                 bool bm25_only) {
  double sum = 0;
  for (std::size_t i = 0; i < s.ids.size(); ++i) {
    const auto& r = s.rows[i];
    std::vector<std::string> ids;
    if (bm25_only) {
      for (auto k : best_indices(r.bm25, r.rows, 10)) ids.push_back(corpus.docs[r.rows[k]].id);
    } else {
      ids = rank::lambdamart_order(m, r, w, corpus, 10);
    }
    sum += metrics::ndcg_at_k(ids, qrels.at(s.ids[i]), 10);
  }
  return s.ids.empty() ? std::nan("") : sum / static_cast<double>(s.ids.size());
}

}  // namespace

LambdaMartTrainResult train_lambdamart(const fs::path& data, const fs::path& out, const LambdaMartTrainOptions& o,
                                       const std::function<void(const std::string&)>& log) {
  const fs::path dir = out / "rank";
  if (fs::exists(dir / "model.pt"))
    throw Error(dir.string() + ": holds a neural ranker (model.pt); train LambdaMART into another models folder");
  if (!fs::exists(data / "qrels" / "train.tsv")) throw Error(data.string() + ": qrels/train.tsv not found");
  const Dataset ds = load_dataset(data);
  const Qrels train_q = load_qrels(data, "train");
  const Qrels dev_q = fs::exists(data / "qrels" / "dev.tsv") ? load_qrels(data, "dev") : Qrels{};
  fs::create_directories(dir);
  const fs::path scratch = dir / "bm25.tmp";
  std::error_code ec;
  fs::remove_all(scratch, ec);
  build_bm25_index(ds.corpus, scratch, Bm25Options{});
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } cleanup{scratch};
  Bm25Options features_bm25;
  features_bm25.prf_docs = recall::kDefaultPrfDocs;
  const rank::LexicalFeatureSet f(scratch, features_bm25, std::make_shared<const Corpus>(ds.corpus));
  log("lambdamart: candidates and features of " + std::to_string(train_q.size()) + " training and " +
      std::to_string(dev_q.size()) + " dev queries");
  const Split tr = rows_of(ds, train_q, f, o.depth), dv = rows_of(ds, dev_q, f, o.depth);
  if (tr.ids.empty())
    throw Error((data / "qrels" / "train.tsv").string() + ": no judged query of queries.jsonl to train on");
  std::vector<std::size_t> all(tr.rows.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  const fusion::GbdtModel model = rank::fit_lambdamart(tr.rows, all, o.params);
  LambdaMartTrainResult r;
  r.train_queries = tr.ids.size();
  r.dev_queries = dv.ids.size();
  for (const auto& q : tr.rows) r.rows += q.rows.size();
  r.dev_ndcg = r.dev_ranker_ndcg = r.dev_bm25_ndcg = std::nan("");
  if (!dv.ids.empty()) {
    r.dev_bm25_ndcg = mean_ndcg(model, dv, dev_q, ds.corpus, 0, true);
    r.dev_ranker_ndcg = mean_ndcg(model, dv, dev_q, ds.corpus, 0, false);
    r.dev_ndcg = -1;
    for (double w : rank_fusion_grid()) {
      const double v = mean_ndcg(model, dv, dev_q, ds.corpus, w, false);
      if (v > r.dev_ndcg + 1e-9) r.dev_ndcg = v, r.fusion_weight = w;
    }
  }
  r.importance = model.importance("total_gain");
  model.save(dir / "lambdamart.json");
  funnel::detail::AtomicFile lex(dir / "lexical.json");
  lex.stream() << json{{"format", "funnel-lambdamart"}, {"version", 1}, {"depth", o.depth},
                       {"prf", {{"prf_docs", features_bm25.prf_docs}, {"prf_terms", features_bm25.prf_terms},
                                {"prf_query_weight", features_bm25.prf_query_weight}}},
                       {"features", rank::LexicalFeatureSet::names()}}.dump(2)
               << '\n';
  lex.commit();
  RecallFusion fusion;
  fusion.weight = r.fusion_weight;
  write_fusion_file(dir / "fusion.json", fusion,
                    {{"fitted", dv.ids.empty() ? "no dev queries: the ranker alone" : "best nDCG@10 on qrels/dev.tsv"}});
  funnel::detail::AtomicFile dj(dir / "data.json");
  dj.stream() << json{{"data", fs::absolute(data).string()}}.dump() << '\n';
  dj.commit();
  r.model_dir = dir;
  return r;
}

}  // namespace funnel::train
