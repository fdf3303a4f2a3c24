#include "rank/lexical_ranker.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <unordered_set>

#include <xapian.h>

#include "funnel/error.h"
#include "funnel/fusion.h"
#include "rank/cross_features.h"
#include "rank/lexical_features.h"
#include "recall/rm3.h"
#include "text/analysis.h"

namespace funnel::rank {
namespace fs = std::filesystem;

namespace {

// The cross features that mean something without logs: the first 11
// (rank/cross_features.h; the click features are all 0 without logs).
constexpr std::size_t kCrossUsed = CrossFeatures::kBodyLen + 1;
constexpr std::size_t kOwn = 11;

// A doc's terms with positions as the BM25 index lays them out: title, a
// gap of 100, body, a gap, each tag.
std::vector<text::Term> doc_terms(text::Analyzer& a, const Doc& d) {
  std::vector<text::Term> out;
  std::uint32_t next = 1;
  auto add = [&](const std::string& field) {
    auto t = a.analyse(field, next, "doc '" + d.id + "'");
    if (!t.empty()) next = t.back().pos + 100;
    out.insert(out.end(), t.begin(), t.end());
  };
  add(d.title);
  add(d.text);
  for (const auto& tag : d.tags) add(tag);
  return out;
}

float best_of(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, x);
  return static_cast<float>(m);
}

}  // namespace

struct LexicalFeatureSet::Impl {
  Bm25Options options;
  std::shared_ptr<const Corpus> corpus;
  std::unique_ptr<RecallChannel> plain, expanded;
  Xapian::Database db;
  mutable std::mutex db_mu;  // Xapian objects are not safe for concurrent use
  CrossFeatures cross;
  Impl(const fs::path& dir, const Bm25Options& o, std::shared_ptr<const Corpus> c, CrossFeatures x)
      : options(o), corpus(std::move(c)), cross(std::move(x)) {
    Bm25Options p = o, e = o;
    p.prf_docs = 0;
    if (e.prf_docs == 0) e.prf_docs = recall::kDefaultPrfDocs;
    options.prf_docs = e.prf_docs;
    plain = open_bm25_channel(dir, p);
    expanded = open_bm25_channel(dir, e);
    db = Xapian::Database(dir.string());
  }
};

LexicalFeatureSet::LexicalFeatureSet(const fs::path& bm25_dir, const Bm25Options& bm25,
                                     std::shared_ptr<const Corpus> corpus) {
  if (!corpus) throw Error("LexicalFeatureSet: no corpus");
  CrossFeatureOptions co;
  co.bm25 = bm25;
  auto cross = CrossFeatures::build(*corpus, {}, co);
  impl_ = std::make_unique<Impl>(bm25_dir, bm25, corpus, std::move(cross));
  if (impl_->db.get_doccount() != corpus->docs.size())
    throw Error(bm25_dir.string() + ": the BM25 index holds " + std::to_string(impl_->db.get_doccount()) +
                " docs, the corpus " + std::to_string(corpus->docs.size()));
}

LexicalFeatureSet::~LexicalFeatureSet() = default;

const Bm25Options& LexicalFeatureSet::options() const { return impl_->options; }

const std::vector<std::string>& LexicalFeatureSet::names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n = {"bm25",          "bm25_rel",         "bm25_prf",       "bm25_prf_rel",
                                  "prf_agreement", "window_unordered", "window_ordered", "idf_sum",
                                  "idf_max",       "idf_rare_share",   "doc_length"};
    for (std::size_t i = 0; i < kCrossUsed; ++i) n.push_back(CrossFeatures::names()[i]);
    return n;
  }();
  return names;
}

std::vector<std::uint32_t> LexicalFeatureSet::candidates(const std::string& query, std::size_t depth) const {
  std::vector<std::uint32_t> rows;
  std::unordered_set<std::uint32_t> seen;
  for (const auto* ch : {impl_->plain.get(), impl_->expanded.get()})
    for (const auto& h : ch->search(query, depth))
      if (seen.insert(h.row).second) rows.push_back(h.row);
  return rows;
}

void LexicalFeatureSet::compute(const std::string& query, const std::vector<std::uint32_t>& rows, std::vector<float>& x,
                                std::vector<float>& bm25) const {
  const Impl& m = *impl_;
  const std::size_t F = names().size();
  x.assign(rows.size() * F, 0.0f);
  bm25.assign(rows.size(), 0.0f);
  if (rows.empty()) return;
  const auto s_bm25 = m.plain->score_rows(query, rows), s_prf = m.expanded->score_rows(query, rows);
  text::Analyzer analyzer(text::analyzer_options(m.options), "lexical features");
  const std::vector<std::string> q_terms = analyzer.terms(query, "query");
  std::vector<recall::WeightedTerm> expansion;
  std::vector<double> dfs;
  double n_docs = 0;
  {
    // The expansion of the channel: the plain pass's top prf_docs.
    const auto top = m.plain->search(query, static_cast<std::size_t>(m.options.prf_docs));
    std::vector<std::pair<std::uint32_t, double>> feedback;
    for (const auto& h : top) feedback.push_back({h.row, h.score});
    std::lock_guard lock(m.db_mu);
    expansion = recall::rm3_expansion(m.db, feedback, m.options.prf_terms);
    for (const auto& t : std::unordered_set<std::string>(q_terms.begin(), q_terms.end()))
      dfs.push_back(static_cast<double>(m.db.get_termfreq(t)));
    n_docs = static_cast<double>(m.db.get_doccount());
  }
  const auto idf = query_idf_stats(dfs, n_docs);
  const auto prepared = m.cross.prepare(query);
  const float max_bm25 = best_of(s_bm25), max_prf = best_of(s_prf);
  std::vector<float> c(CrossFeatures::kCount);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Doc& d = m.corpus->docs.at(rows[i]);
    const auto dt = doc_terms(analyzer, d);
    m.cross.compute(prepared, rows[i], c.data());
    const float b = static_cast<float>(s_bm25[i]), p = static_cast<float>(s_prf[i]);
    float* out = &x[i * F];
    out[0] = b;
    out[1] = max_bm25 > 0 ? b / max_bm25 : 0.0f;
    out[2] = p;
    out[3] = max_prf > 0 ? p / max_prf : 0.0f;
    out[4] = static_cast<float>(prf_agreement(expansion, dt));
    out[5] = static_cast<float>(min_window_unordered(dt, q_terms));
    out[6] = static_cast<float>(min_window_ordered(dt, q_terms));
    out[7] = static_cast<float>(idf.sum);
    out[8] = static_cast<float>(idf.max);
    out[9] = static_cast<float>(idf.rare_share);
    out[10] = static_cast<float>(std::log1p(static_cast<double>(dt.size())));
    std::copy(c.begin(), c.begin() + kCrossUsed, out + kOwn);
    bm25[i] = b;
  }
}

RankRows rank_rows(const LexicalFeatureSet& f, const std::string& query, const metrics::Judgments& judged,
                   const Corpus& corpus, std::size_t depth) {
  RankRows r;
  r.rows = f.candidates(query, depth);
  f.compute(query, r.rows, r.x, r.bm25);
  for (auto row : r.rows) {
    const auto g = judged.find(corpus.docs[row].id);
    r.grade.push_back(g == judged.end() ? 0.0f : static_cast<float>(std::max(0, g->second)));
  }
  return r;
}

fusion::GbdtModel fit_lambdamart(const std::vector<RankRows>& lists, const std::vector<std::size_t>& which,
                                 const fusion::GbdtParams& params) {
  std::vector<float> x, y;
  std::vector<std::uint32_t> groups;
  for (auto q : which) {
    if (lists.at(q).rows.empty()) continue;
    x.insert(x.end(), lists[q].x.begin(), lists[q].x.end());
    y.insert(y.end(), lists[q].grade.begin(), lists[q].grade.end());
    groups.push_back(static_cast<std::uint32_t>(lists[q].rows.size()));
  }
  if (groups.empty()) throw Error("LambdaMART: no training query has candidates");
  const fusion::GbdtData d{x, y.size(), LexicalFeatureSet::names().size(), y, {}, groups};
  return fusion::GbdtModel::train(d, nullptr, LexicalFeatureSet::names(), params);
}

fusion::GbdtParams default_lambdamart_params() {
  fusion::GbdtParams p;
  p.objective = "rank:ndcg";
  p.rounds = 150;
  p.max_depth = 4;
  p.eta = 0.05;
  p.subsample = 0.8;
  p.colsample = 0.8;
  p.min_child_weight = 1;
  p.threads = 2;
  p.early_stopping_rounds = 0;
  return p;
}

std::vector<std::string> lambdamart_order(const fusion::GbdtModel& m, const RankRows& r, double weight,
                                          const Corpus& corpus, std::size_t n) {
  if (r.rows.empty()) return {};
  std::vector<float> s = m.predict(r.x, r.rows.size(), true);
  fuse_recall_scores(s, r.bm25, weight);
  std::vector<std::string> ids;
  for (auto k : best_indices(s, r.rows, n)) ids.push_back(corpus.docs[r.rows[k]].id);
  return ids;
}

}  // namespace funnel::rank
