// The ranker's training data: training queries and their grades, logged
// examples, cross features (out-of-fold click history), the candidate lists
// and the dev lists.
#include "train/rank/trainer.h"

#include <algorithm>
#include <unordered_set>

#include "funnel/error.h"
#include "funnel/metrics.h"
#include "train/common/log.h"
#include "train/common/queries.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

void RankTrainer::load_data() {
  log_("fit: reading " + data_.string());
  ds_ = load_dataset(data_);
  query_index_ = index_queries(ds_.queries);
  if (!fs::exists(data_ / "qrels" / "train.tsv"))
    throw Error((data_ / "qrels" / "train.tsv").string() + ": missing (the ranker learns relevance from training qrels)");
  Qrels train = load_qrels(data_, "train");
  if (fs::exists(data_ / "qrels" / "dev.tsv")) dev_qrels_ = load_qrels(data_, "dev");
  // Human labels fill in grades the qrels lack.
  if (fs::exists(data_ / "human_labels.tsv"))
    for (auto& [q, j] : read_qrels(data_ / "human_labels.tsv")) {
      if (!train.count(q)) continue;
      for (auto& [d, g] : j) train[q].emplace(d, g);
    }
  for (auto& [q, j] : train) {
    auto qi = query_index_.find(q);
    if (qi == query_index_.end()) continue;
    train_queries_.push_back(qi->second);
    auto& g = grades_[qi->second];
    for (auto& [d, grade] : j)
      if (auto row = ds_.corpus.find(d)) g[*row] = static_cast<float>(grade);
  }
  std::sort(train_queries_.begin(), train_queries_.end());
  if (train_queries_.empty()) throw Error(data_.string() + ": qrels/train.tsv names no query of queries.jsonl");
  fs::path imp = data_ / "impressions.jsonl";
  if (fs::exists(imp)) impressions_ = read_impressions(imp);
  log_("fit: " + std::to_string(train_queries_.size()) + " training queries, " + std::to_string(impressions_.size()) +
       " impressions");
}

// The logged impressions of training queries: the logged examples with
// their labels (one per logged task, in all_rank_tasks() order after
// relevance), and the tasks the data has (relevance, then each logged signal
// with a positive label).
std::vector<rank::LoggedImpression> RankTrainer::collect_logged() {
  std::unordered_set<std::uint32_t> train_set(train_queries_.begin(), train_queries_.end());
  std::vector<rank::LoggedImpression> all;
  bool has[kLoggedTasks] = {};
  for (const auto& im : impressions_) {
    auto qi = query_index_.find(im.query_id);
    if (qi == query_index_.end() || !train_set.count(qi->second)) continue;
    auto row = ds_.corpus.find(im.doc_id);
    if (!row) continue;
    all.push_back({ds_.queries[qi->second].text, *row, im.click});
    LoggedExample ex{};
    ex.query = qi->second;
    ex.row = *row;
    const float v[kLoggedTasks] = {im.click ? 1.0f : 0.0f, std::clamp(im.watch, 0.0f, 1.0f), im.finish ? 1.0f : 0.0f,
                                   im.like ? 1.0f : 0.0f,  im.share ? 1.0f : 0.0f,           im.follow ? 1.0f : 0.0f};
    for (std::size_t t = 0; t < kLoggedTasks; ++t) {
      ex.label[t] = v[t];
      has[t] = has[t] || v[t] > 0;
    }
    logged_.push_back(ex);
  }
  tasks_ = {"relevance"};
  for (std::size_t t = 0; t < kLoggedTasks; ++t)
    if (has[t]) tasks_.push_back(rank::all_rank_tasks()[t + 1]);
  return all;
}

void RankTrainer::build_features() {
  const std::vector<rank::LoggedImpression> all = collect_logged();
  std::vector<rank::LoggedImpression> by_fold[2];
  for (std::size_t i = 0; i < all.size(); ++i) by_fold[fold_of(logged_[i].query)].push_back(all[i]);
  log_("fit: building cross features (click history from " + std::to_string(all.size()) + " training impressions)");
  rank::CrossFeatureOptions fo;
  serving_features_ = std::make_unique<rank::CrossFeatures>(rank::CrossFeatures::build(ds_.corpus, all, fo));
  for (int f = 0; f < 2; ++f)
    fold_features_[f] = std::make_unique<rank::CrossFeatures>(rank::CrossFeatures::build(ds_.corpus, by_fold[1 - f], fo));
  // Feature vectors of the logged examples, from the other fold's logs.
  std::unordered_map<std::uint32_t, rank::CrossFeatures::Prepared> prepared[2];
  auto prep = [&](std::uint32_t q) -> const rank::CrossFeatures::Prepared& {
    const int f = fold_of(q);
    auto it = prepared[f].find(q);
    if (it == prepared[f].end()) it = prepared[f].emplace(q, fold_features_[f]->prepare(ds_.queries[q].text)).first;
    return it->second;
  };
  for (auto& ex : logged_) fold_features_[fold_of(ex.query)]->compute(prep(ex.query), ex.row, ex.feats);
  // Candidate lists: BM25's top candidate_depth of every training query.
  std::size_t with_relevant = 0;
  for (auto q : train_queries_) {
    QueryList l;
    l.query = q;
    const auto& g = grades_[q];
    for (const auto& h : bm25().search(ds_.queries[q].text, o_.candidate_depth)) {
      l.rows.push_back(h.row);
      auto it = g.find(h.row);
      l.grade.push_back(it == g.end() ? 0.0f : std::max(0.0f, it->second));
    }
    // A relevant doc BM25 missed keeps the list learnable.
    if (std::none_of(l.grade.begin(), l.grade.end(), [](float x) { return x > 0; })) {
      std::uint32_t best_row = 0;
      float best_g = 0;
      for (auto& [row, grade] : g)
        if (grade > best_g || (grade == best_g && grade > 0 && row < best_row)) {
          best_g = grade;
          best_row = row;
        }
      if (best_g <= 0) continue;
      l.rows.push_back(best_row);
      l.grade.push_back(best_g);
    }
    ++with_relevant;
    l.feats.resize(l.rows.size() * kF);
    const auto& p = prep(q);
    for (std::size_t i = 0; i < l.rows.size(); ++i) fold_features_[fold_of(q)]->compute(p, l.rows[i], &l.feats[i * kF]);
    lists_.push_back(std::move(l));
  }
  if (lists_.empty()) throw Error(data_.string() + ": no training query has a relevant doc");
  log_("fit: " + std::to_string(with_relevant) + " training lists of BM25's top " + std::to_string(o_.candidate_depth) +
       ", " + std::to_string(logged_.size()) + " logged examples; tasks:" + [&] {
         std::string s;
         for (auto& t : tasks_) s += " " + t;
         return s;
       }());
  fit_standardisation();
  build_dev();
}

void RankTrainer::fit_standardisation() {
  mean_.assign(kF, 0.0f);
  std_.assign(kF, 1.0f);
  std::vector<double> sum(kF, 0), sq(kF, 0);
  std::size_t n = 0;
  for (const auto& l : lists_)
    for (std::size_t i = 0; i < l.rows.size(); ++i, ++n)
      for (std::size_t f = 0; f < kF; ++f) {
        const double x = l.feats[i * kF + f];
        sum[f] += x;
        sq[f] += x * x;
      }
  for (std::size_t f = 0; f < kF; ++f) {
    const double m = sum[f] / static_cast<double>(std::max<std::size_t>(1, n));
    const double var = sq[f] / static_cast<double>(std::max<std::size_t>(1, n)) - m * m;
    mean_[f] = static_cast<float>(m);
    std_[f] = static_cast<float>(std::sqrt(std::max(var, 1e-8)));
    if (!(std_[f] > 1e-4f)) std_[f] = 1.0f;  // a constant feature stays 0 after centring
  }
}

// Up to dev_queries dev queries (sorted ids, evenly spaced): BM25's top
// candidate_depth with serving features.
void RankTrainer::build_dev() {
  const std::vector<std::string> ids = evenly_spaced_judged(dev_qrels_, query_index_, o_.dev_queries);
  if (ids.empty()) {
    bm25_dev_ndcg_ = std::nan("");
    return;
  }
  double sum = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    QueryList l;
    l.query = query_index_.at(ids[i]);
    auto p = serving_features_->prepare(ds_.queries[l.query].text);
    std::vector<std::string> ranked;
    for (const auto& h : bm25().search(ds_.queries[l.query].text, o_.candidate_depth)) {
      l.rows.push_back(h.row);
      l.bm25.push_back(static_cast<float>(h.score));
      ranked.push_back(ds_.corpus.docs[h.row].id);
    }
    l.feats.resize(l.rows.size() * kF);
    for (std::size_t r = 0; r < l.rows.size(); ++r) serving_features_->compute(p, l.rows[r], &l.feats[r * kF]);
    sum += metrics::ndcg_at_k(ranked, dev_qrels_.at(ids[i]), 10);
    dev_ids_.push_back(ids[i]);
    dev_.push_back(std::move(l));
  }
  bm25_dev_ndcg_ = sum / static_cast<double>(dev_.size());
  log_("fit: dev check: " + std::to_string(dev_.size()) + " dev queries, BM25 top " + std::to_string(o_.candidate_depth) +
       " re-ranked; BM25's own nDCG@10 " + fmt("%.4f", bm25_dev_ndcg_));
}

}  // namespace funnel::train
