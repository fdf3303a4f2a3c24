#include "experiments/relevance_lists.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "funnel/error.h"
#include "funnel/metrics.h"

namespace funnel::experiments {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::string LexConfig::key() const {
  std::string k = "tw" + std::to_string(bm25.title_weight) + " k1=" + num(bm25.k1) + " b=" + num(bm25.b);
  if (bm25.prf_docs > 0)
    k += " prf=" + std::to_string(bm25.prf_docs) + "/" + std::to_string(bm25.prf_terms) + "/" + num(bm25.prf_query_weight);
  return k;
}

json LexConfig::to_json() const {
  json j = {{"title_weight", bm25.title_weight}, {"k1", bm25.k1}, {"b", bm25.b}};
  if (bm25.prf_docs > 0) {
    j["prf_docs"] = bm25.prf_docs;
    j["prf_terms"] = bm25.prf_terms;
    j["prf_query_weight"] = bm25.prf_query_weight;
  }
  return j;
}

LexicalRuns::LexicalRuns(const JudgedQueries& set, const fs::path& dir, LogFn log)
    : set_(set), dir_(dir), log_(std::move(log)) {
  std::unordered_map<std::string, const Query*> by_id;
  for (const auto& q : set.ds.queries) by_id[q.id] = &q;
  for (const auto& id : set.ids) queries_.push_back(by_id.at(id));
  for (const auto& d : set.ds.corpus.docs)
    if (!d.title.empty() && !d.text.empty()) {
      titles_and_bodies_ = true;
      break;
    }
}

LexicalRuns::~LexicalRuns() = default;

fs::path LexicalRuns::index_dir(int title_weight) const {
  const fs::path dir = dir_ / ("index-tw" + std::to_string(title_weight));
  if (!fs::exists(dir)) {
    log_("building the BM25 index with title weight " + std::to_string(title_weight));
    Bm25Options o;
    o.title_weight = title_weight;
    build_bm25_index(set_.ds.corpus, dir, o);
  }
  return dir;
}

const RecallChannel& LexicalRuns::channel(const LexConfig& c) {
  auto& ch = channels_[c.key()];
  if (!ch) ch = open_bm25_channel(index_dir(c.bm25.title_weight), c.bm25);
  return *ch;
}

const std::vector<double>& LexicalRuns::ndcg(const LexConfig& c) {
  auto [it, fresh] = ndcg_.try_emplace(c.key());
  if (!fresh) return it->second;
  const RecallChannel& ch = channel(c);
  it->second.reserve(queries_.size());
  for (std::size_t i = 0; i < queries_.size(); ++i) {
    std::vector<std::string> ids;
    for (const auto& h : ch.search(queries_[i]->text, 10)) ids.push_back(set_.ds.corpus.docs[h.row].id);
    it->second.push_back(metrics::ndcg_at_k(ids, set_.judged.at(set_.ids[i]), 10));
  }
  return it->second;
}

std::vector<LexConfig> LexicalRuns::bm25_grid() const {
  std::vector<LexConfig> grid{LexConfig{}};
  const std::vector<int> weights = titles_and_bodies_ ? std::vector<int>{2, 1, 3} : std::vector<int>{2};
  for (int w : weights)
    for (double k1 : {0.6, 0.9, 1.0, 1.2, 1.5, 2.0})
      for (double b : {0.3, 0.5, 0.75, 0.9}) {
        LexConfig c;
        c.bm25.title_weight = w;
        c.bm25.k1 = k1;
        c.bm25.b = b;
        if (c.key() != grid[0].key()) grid.push_back(c);
      }
  return grid;
}

std::vector<LexConfig> LexicalRuns::prf_grid(const LexConfig& base) {
  std::vector<LexConfig> grid;
  for (int docs : {5, 10, 20})
    for (int terms : {10, 20, 40})
      for (double w : {0.3, 0.5, 0.7}) {
        LexConfig c = base;
        c.bm25.prf_docs = docs;
        c.bm25.prf_terms = terms;
        c.bm25.prf_query_weight = w;
        grid.push_back(c);
      }
  return grid;
}

std::vector<rank::RankRows> build_rank_rows(const JudgedQueries& set, LexicalRuns& runs, std::size_t depth,
                                            const LogFn& log) {
  const LexConfig plain;
  const rank::LexicalFeatureSet features(runs.index_dir(plain.bm25.title_weight), plain.bm25,
                                         std::make_shared<const Corpus>(set.ds.corpus));
  std::unordered_map<std::string, const Query*> by_id;
  for (const auto& q : set.ds.queries) by_id[q.id] = &q;
  std::vector<rank::RankRows> out;
  for (std::size_t i = 0; i < set.ids.size(); ++i) {
    out.push_back(rank::rank_rows(features, by_id.at(set.ids[i])->text, set.judged.at(set.ids[i]), set.ds.corpus, depth));
    if ((i + 1) % 500 == 0) log("features: " + std::to_string(i + 1) + " / " + std::to_string(set.ids.size()) + " queries");
  }
  return out;
}

}  // namespace funnel::experiments
