// The ranker's dev check: BM25's top candidate_depth of each dev query
// re-ranked by the ranker, nDCG@10 of its order and of its score fused with
// BM25 (funnel/fusion.h) at each weight of rank_fusion_grid(). Scores are
// computed as the rank stage computes them (the same chunks of the list, the same
// weighted sum of head logits, the same fusion and tie-break), and the
// chosen epoch's are written to OUT/rank/dev_check.jsonl.
#include "train/rank/trainer.h"

#include <cmath>

#include "funnel/fusion.h"
#include "funnel/metrics.h"
#include "util/fs.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

// The serving score of each row of a list: the model run as the rank stage
// runs it (rank::forward_in_chunks), then the score weights' sum of the head
// logits.
std::vector<float> RankTrainer::score_list(const QueryList& l) {
  if (l.rows.empty()) return {};
  const std::vector<std::uint32_t> qs(l.rows.size(), l.query);
  auto [seqs, f] = inputs(qs, l.rows, l.feats);
  auto lo = rank::forward_in_chunks(net_, seqs, f, static_cast<std::int64_t>(l.rows.size())).contiguous();
  const std::vector<float> logits(lo.data_ptr<float>(), lo.data_ptr<float>() + lo.numel());
  return rank::weighted_scores(logits, config_.tasks.size(), config_.score_weights);
}

RankEpochLog RankTrainer::evaluate_dev() {
  RankEpochLog e;
  e.dev_ndcg = e.fused_ndcg = e.fusion_weight = std::nan("");
  if (dev_.empty()) return e;
  {
    torch::NoGradGuard no_grad;
    net_->eval();
    dev_scores_.clear();
    for (const auto& l : dev_) dev_scores_.push_back(score_list(l));
    net_->train();
  }
  for (double w : rank_fusion_grid()) {
    double sum = 0;
    for (std::size_t i = 0; i < dev_.size(); ++i) {
      std::vector<std::string> ranked;
      for (std::size_t k : best_indices(fused_dev_scores(i, w), dev_[i].rows, dev_[i].rows.size()))
        ranked.push_back(ds_.corpus.docs[dev_[i].rows[k]].id);
      sum += metrics::ndcg_at_k(ranked, dev_qrels_.at(dev_ids_[i]), 10);
    }
    const double v = sum / static_cast<double>(dev_.size());
    e.grid_ndcg.push_back(v);
    if (w == 0) {
      e.dev_ndcg = e.fused_ndcg = v;
      e.fusion_weight = 0;
    } else if (v > e.fused_ndcg + 1e-9) {
      e.fused_ndcg = v;
      e.fusion_weight = w;
    }
  }
  return e;
}

std::vector<float> RankTrainer::fused_dev_scores(std::size_t i, double w) const {
  std::vector<float> s = dev_scores_[i];
  fuse_recall_scores(s, dev_[i].bm25, w);
  return s;
}

void RankTrainer::write_dev_check(double weight) const {
  detail::AtomicFile f(dir_ / "dev_check.jsonl");
  f.stream() << json{{"fusion_weight", weight}, {"candidate_depth", o_.candidate_depth},
                     {"score", "sum of score_weights x head logits, fused with BM25 (funnel/fusion.h)"}}.dump()
             << '\n';
  for (std::size_t i = 0; i < dev_.size(); ++i) {
    std::vector<std::string> ids;
    for (auto r : dev_[i].rows) ids.push_back(ds_.corpus.docs[r].id);
    f.stream() << json{{"query_id", dev_ids_[i]}, {"docs", ids}, {"bm25", dev_[i].bm25}, {"ranker", dev_scores_[i]},
                       {"fused", fused_dev_scores(i, weight)}}.dump()
               << '\n';
  }
  f.commit();
}

}  // namespace funnel::train
