// The student's dev figures: AUCs on dev pairs and the cascade dev check
// (BM25's top `cascade_depth` re-scored, Recall@`cascade_keep`, the BM25
// fusion weight fitted on it).
#include "train/prerank/trainer.h"

#include <algorithm>
#include <cmath>

#include "funnel/metrics.h"
#include "nn/batching.h"
#include "prerank/torch/doc_batch.h"
#include "train/common/log.h"
#include "train/common/queries.h"
#include "train/prerank/cascade_check.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

// Every k-th dev query (sorted ids, deterministic) with a relevant doc:
// its BM25 candidates, their scores and the relevant rows.
void PrerankTrainer::build_cascade_dev(const Qrels& dev) {
  if (o_.cascade_queries == 0 || o_.cascade_keep == 0 || o_.cascade_depth < o_.cascade_keep) return;
  const std::vector<std::string> ids = evenly_spaced_judged(dev, query_index_, o_.cascade_queries);
  double bm25_sum = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& judged = dev.at(ids[i]);
    std::unordered_set<std::uint32_t> rel;
    std::size_t n_rel = 0;
    for (auto& [d, g] : judged)
      if (g > 0) {
        ++n_rel;
        if (auto row = ds_.corpus.find(d)) rel.insert(*row);
      }
    const std::uint32_t qi = query_index_.at(ids[i]);
    std::vector<std::uint32_t> rows;
    std::vector<float> scores;
    std::size_t hits = 0;
    for (const auto& h : bm25().search(ds_.queries[qi].text, o_.cascade_depth)) {
      if (rows.size() < o_.cascade_keep && rel.count(h.row)) ++hits;
      rows.push_back(h.row);
      scores.push_back(static_cast<float>(h.score));
    }
    bm25_sum += static_cast<double>(hits) / static_cast<double>(n_rel);
    cascade_.query.push_back(qi);
    cascade_.rows.push_back(std::move(rows));
    cascade_.bm25.push_back(std::move(scores));
    cascade_.relevant.push_back(std::move(rel));
    cascade_.n_relevant.push_back(n_rel);
  }
  if (cascade_.query.empty()) return;
  cascade_.bm25_recall = bm25_sum / static_cast<double>(cascade_.query.size());
  log_("fit: cascade dev check: " + std::to_string(cascade_.query.size()) + " dev queries, BM25 top " +
       std::to_string(o_.cascade_depth) + " re-scored, Recall@" + std::to_string(o_.cascade_keep) +
       " of BM25 alone " + fmt("%.4f", cascade_.bm25_recall));
}

// Re-scores the cascade dev candidates; fills cascade_recall, and the
// best BM25 weight w on a grid with its fused_recall. With dot and
// soft_attention it also replays hybrid recall: BM25's list plus the
// student's own exact top `depth` over the corpus (what the ANN channel
// approximates), docs found only by the student scored by BM25 from the
// index, as the recall stage does at serving time; its weight is fitted
// apart (hybrid_*).
void PrerankTrainer::evaluate_cascade(EpochLog& e) {
  torch::NoGradGuard no_grad;
  model_->eval();
  const bool hybrid = o_.matcher != "esim";
  std::vector<std::uint32_t> all;
  if (hybrid) {
    for (std::uint32_t r = 0; r < docs_.tokens.size(); ++r) all.push_back(r);
  } else {
    for (const auto& r : cascade_.rows) all.insert(all.end(), r.begin(), r.end());
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
  }
  std::unordered_map<std::uint32_t, std::int64_t> pos;
  std::vector<torch::Tensor> parts;
  for (std::size_t s = 0; s < all.size(); s += 512) {
    std::vector<std::uint32_t> slice(all.begin() + static_cast<std::ptrdiff_t>(s),
                                     all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), s + 512)));
    parts.push_back(model_->encode_docs(prerank::make_doc_batch(docs_, slice)));
  }
  for (std::size_t i = 0; i < all.size(); ++i) pos[all[i]] = static_cast<std::int64_t>(i);
  auto docs = torch::cat(parts);
  auto queries = model_->encode_queries(nn::make_token_batch(queries_, cascade_.query, &queries_bow_));
  // Per query: the student's and BM25's scores of BM25's candidates, and of
  // the hybrid list (BM25's plus the student's own top; those only the
  // student found get their BM25 from the index, as at serving time).
  std::vector<CheckList> lists(cascade_.query.size()), hybrid_lists;
  if (hybrid) hybrid_lists.resize(cascade_.query.size());
  for (std::size_t i = 0; i < cascade_.query.size(); ++i) {
    auto q = queries.slice(0, static_cast<std::int64_t>(i), static_cast<std::int64_t>(i) + 1);
    std::vector<std::int64_t> idx;
    for (auto r : cascade_.rows[i]) idx.push_back(pos[r]);
    auto sc = model_->score_matrix(q, docs.index_select(0, torch::tensor(idx, torch::kLong))).reshape({-1}).contiguous();
    CheckList& l = lists[i];
    l.rows = cascade_.rows[i];
    l.own.assign(sc.data_ptr<float>(), sc.data_ptr<float>() + sc.numel());
    l.recall = cascade_.bm25[i];
    l.relevant = cascade_.relevant[i];
    l.n_relevant = cascade_.n_relevant[i];
    if (!hybrid) continue;
    CheckList& h = hybrid_lists[i];
    h = l;
    std::unordered_set<std::uint32_t> seen(l.rows.begin(), l.rows.end());
    auto full = model_->score_matrix(q, docs).reshape({-1});
    auto top = full.topk(static_cast<std::int64_t>(std::min<std::size_t>(o_.cascade_depth, all.size())));
    auto tv = std::get<0>(top).contiguous(), ti = std::get<1>(top).contiguous();
    std::vector<std::uint32_t> extra;
    for (std::int64_t j = 0; j < ti.numel(); ++j) {
      const auto row = all[static_cast<std::size_t>(ti.data_ptr<std::int64_t>()[j])];
      if (!seen.insert(row).second) continue;
      extra.push_back(row);
      h.own.push_back(tv.data_ptr<float>()[j]);
    }
    // As the recall stage does at serving time: docs only the student found
    // get their BM25 score from the index (0 where the query does not match).
    const std::vector<double> extra_bm25 = bm25().score_rows(ds_.queries[cascade_.query[i]].text, extra);
    h.rows.insert(h.rows.end(), extra.begin(), extra.end());
    for (double x : extra_bm25) h.recall.push_back(static_cast<float>(x));
  }
  model_->train();
  e.cascade_recall = recall_at_keep(lists, 0, o_.cascade_keep);
  const FusionFit fit = fit_fusion_weight(lists, o_.cascade_keep);
  e.fused_recall = fit.recall;
  e.fusion_weight = fit.weight;
  e.hybrid_recall = e.hybrid_fusion_weight = std::nan("");
  if (hybrid) {
    const FusionFit h = fit_fusion_weight(hybrid_lists, o_.cascade_keep);
    e.hybrid_recall = h.recall;
    e.hybrid_fusion_weight = h.weight;
  }
}

EpochLog PrerankTrainer::evaluate_all() {
  EpochLog e;
  auto [auc, gauc] = evaluate(dev_);
  e.label_auc = label_dev_ ? auc : std::nan("");
  std::tie(e.click_auc, e.click_gauc) = evaluate(click_dev_);
  if (!cascade_.query.empty()) {
    evaluate_cascade(e);
    e.dev_auc = e.fused_recall;
    e.dev_gauc = std::nan("");
  } else {
    e.dev_auc = auc;
    e.dev_gauc = gauc;
    e.cascade_recall = e.fused_recall = e.fusion_weight = std::nan("");
    e.hybrid_recall = e.hybrid_fusion_weight = std::nan("");
  }
  return e;
}

std::string PrerankTrainer::describe(const EpochLog& e) const {
  std::string s;
  if (!std::isnan(e.cascade_recall))
    s += " (student alone " + fmt("%.4f", e.cascade_recall) + ", BM25 weight " + fmt("%.2f", e.fusion_weight) +
         "; BM25 alone " + fmt("%.4f", cascade_.bm25_recall) + ")";
  if (!std::isnan(e.hybrid_recall))
    s += ", hybrid recall -> " + fmt("%.4f", e.hybrid_recall) + " (BM25 weight " + fmt("%.2f", e.hybrid_fusion_weight) + ")";
  if (!std::isnan(e.label_auc) && !cascade_.query.empty()) s += ", label AUC " + fmt("%.4f", e.label_auc);
  if (!std::isnan(e.click_auc)) s += ", click AUC " + fmt("%.4f", e.click_auc) + " GAUC " + fmt("%.4f", e.click_gauc);
  return s;
}

std::pair<double, double> PrerankTrainer::evaluate(const std::vector<DevItem>& dev_) {
  if (dev_.empty()) return {std::nan(""), std::nan("")};
  torch::NoGradGuard no_grad;
  model_->eval();
  const std::size_t n = std::min(dev_.size(), o_.dev_limit);
  std::vector<float> scores(n), labels(n);
  std::vector<std::uint64_t> groups(n);
  const std::size_t B = 256;
  for (std::size_t s = 0; s < n; s += B) {
    std::vector<std::uint32_t> qrows, drows;
    for (std::size_t i = s; i < std::min(n, s + B); ++i) {
      qrows.push_back(dev_[i].query);
      drows.push_back(dev_[i].doc);
    }
    auto out = model_->score_pairs(model_->encode_queries(nn::make_token_batch(queries_, qrows, &queries_bow_)),
                                   model_->encode_docs(prerank::make_doc_batch(docs_, drows)));
    auto acc = out.accessor<float, 1>();
    for (std::size_t i = s; i < std::min(n, s + B); ++i) {
      scores[i] = acc[static_cast<std::int64_t>(i - s)];
      labels[i] = dev_[i].label;
      groups[i] = dev_[i].group;
    }
  }
  model_->train();
  return {metrics::auc(scores, labels), metrics::gauc(scores, labels, groups)};
}

}  // namespace funnel::train
