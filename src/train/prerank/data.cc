// The student's training data: positive pairs from qrels and clicks,
// pairwise examples from logs and human labels, the dev sets, and BM25 hard
// negatives.
#include "train/prerank/trainer.h"

#include <algorithm>

#include "funnel/error.h"
#include "train/common/queries.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

void PrerankTrainer::load_data() {
  log_("fit: reading " + data_.string());
  ds_ = load_dataset(data_);
  query_index_ = index_queries(ds_.queries);
  const bool has_train = fs::exists(data_ / "qrels" / "train.tsv");
  Qrels train = has_train ? load_qrels(data_, "train") : Qrels{};
  std::unordered_set<std::string> train_queries, dev_queries;
  for (auto& [q, j] : train) train_queries.insert(q);
  Qrels dev;
  if (fs::exists(data_ / "qrels" / "dev.tsv")) {
    dev = load_qrels(data_, "dev");
    for (auto& [q, j] : dev) dev_queries.insert(q);
  }
  // Relevant pairs: the top grades of the collection (>= 2 on 0..3 scales,
  // >= 1 on binary ones).
  int max_grade = 0;
  for (auto& [q, j] : train)
    for (auto& [d, g] : j) max_grade = std::max(max_grade, g);
  const int min_pos = max_grade >= 2 ? 2 : 1;
  for (auto& [q, j] : train) {
    auto qi = query_index_.find(q);
    if (qi == query_index_.end()) continue;
    for (auto& [d, g] : j) {
      auto row = ds_.corpus.find(d);
      if (row && g >= min_pos) positives_.push_back({qi->second, *row});
      if (row && g > 0) relevant_[qi->second].insert(*row);
    }
  }
  load_clicks(train_queries, dev_queries, has_train);
  load_label_pairs(train_queries);
  auto pair_less = [](const Pair& a, const Pair& b) { return std::tie(a.query, a.doc) < std::tie(b.query, b.doc); };
  std::sort(positives_.begin(), positives_.end(), pair_less);
  positives_.erase(std::unique(positives_.begin(), positives_.end(),
                               [](const Pair& a, const Pair& b) { return a.query == b.query && a.doc == b.doc; }),
                   positives_.end());
  if (positives_.empty())
    throw Error(data_.string() + ": no training pairs (needs qrels/train.tsv or clicks in impressions.jsonl)");
  // The primary dev metric ranks relevant docs against BM25 look-alikes
  // (what pre-rank must do); click AUC on dev impressions is reported too
  // but is a weak signal: clicks follow position, which the model never sees.
  build_label_dev(dev);
  log_("fit: " + std::to_string(positives_.size()) + " positive pairs, " + std::to_string(click_pairs_.size()) +
       " click pairs, " + std::to_string(label_pairs_.size()) + " human-label pairs, " + std::to_string(dev_.size()) +
       " dev examples");
  if (o_.hard_negatives && o_.hard_negative_depth > 0) mine_hard_negatives();
}

// Logs: clicks are positives; clicked-below-skipped pairs train the
// pairwise loss; dev-split impressions measure click AUC.
void PrerankTrainer::load_clicks(const std::unordered_set<std::string>& train_queries,
                                 const std::unordered_set<std::string>& dev_queries, bool has_train) {
  fs::path imp = data_ / "impressions.jsonl";
  if (!fs::exists(imp)) return;
  {
    auto ims = read_impressions(imp);
    std::unordered_map<std::string, std::vector<const Impression*>> by_request;
    for (const auto& im : ims) by_request[im.request_id].push_back(&im);
    std::unordered_map<std::string, std::uint64_t> group_of;
    for (auto& [rid, list] : by_request) {
      const std::string& qid = list.front()->query_id;
      auto qi = query_index_.find(qid);
      if (qi == query_index_.end()) continue;
      if (train_queries.count(qid) || (!has_train && !dev_queries.count(qid))) {
        for (const auto* c : list) {
          if (!c->click) continue;
          auto crow = ds_.corpus.find(c->doc_id);
          if (!crow) continue;
          if (o_.clicks_as_positives || !has_train) positives_.push_back({qi->second, *crow});
          for (const auto* s : list)
            if (!s->click && s->position < c->position)
              if (auto srow = ds_.corpus.find(s->doc_id)) click_pairs_.push_back({qi->second, *crow, *srow});
        }
      } else if (dev_queries.count(qid)) {
        auto g = group_of.emplace(rid, group_of.size()).first->second;
        for (const auto* im : list)
          if (auto row = ds_.corpus.find(im->doc_id)) click_dev_.push_back({qi->second, *row, im->click ? 1.0f : 0.0f, g});
      }
    }
    // Deterministic order regardless of hash-map iteration.
    auto by_key = [](const DevItem& a, const DevItem& b) {
      return std::tie(a.group, a.doc, a.query) < std::tie(b.group, b.doc, b.query);
    };
    std::sort(click_dev_.begin(), click_dev_.end(), by_key);
  }
}

// Human labels of training queries: higher grade above lower grade.
void PrerankTrainer::load_label_pairs(const std::unordered_set<std::string>& train_queries) {
  fs::path labels = data_ / "human_labels.tsv";
  if (!fs::exists(labels)) return;
  {
    Qrels h = read_qrels(labels);
    for (auto& [q, j] : h) {
      auto qi = query_index_.find(q);
      if (qi == query_index_.end() || !train_queries.count(q)) continue;
      std::vector<std::pair<std::uint32_t, int>> docs;
      for (auto& [d, g] : j)
        if (auto row = ds_.corpus.find(d)) docs.push_back({*row, g});
      std::sort(docs.begin(), docs.end());
      for (auto& a : docs)
        for (auto& b : docs)
          if (a.second > b.second) label_pairs_.push_back({qi->second, a.first, b.first});
    }
  }
}

// Without logs: dev AUC of relevant docs against BM25 look-alikes.
void PrerankTrainer::build_label_dev(const Qrels& dev) {
  dev_metric_ = "label AUC on dev qrels vs BM25 negatives";
  if (dev.empty() && !click_dev_.empty()) {
    dev_ = click_dev_;
    click_dev_.clear();
    dev_metric_ = "click AUC on dev impressions";
    return;
  }
  if (dev.empty()) {
    // Hold out every 10th positive pair of the training data instead.
    dev_metric_ = "AUC on held-out training pairs vs random docs";
    std::vector<Pair> keep;
    for (std::size_t i = 0; i < positives_.size(); ++i) {
      if (i % 10 == 9) {
        dev_.push_back({positives_[i].query, positives_[i].doc, 1.0f, positives_[i].query});
        dev_.push_back({positives_[i].query, static_cast<std::uint32_t>(rng_.below(ds_.corpus.docs.size())), 0.0f,
                        positives_[i].query});
      } else {
        keep.push_back(positives_[i]);
      }
    }
    positives_ = keep;
    return;
  }
  label_dev_ = true;
  build_cascade_dev(dev);
  if (!cascade_.query.empty())
    dev_metric_ = "Recall@" + std::to_string(o_.cascade_keep) + " of BM25's top " + std::to_string(o_.cascade_depth) +
                  " re-scored (student + fitted BM25 weight)";
  for (auto& [q, j] : dev) {
    auto qi = query_index_.find(q);
    if (qi == query_index_.end()) continue;
    for (auto& [d, g] : j)
      if (auto row = ds_.corpus.find(d); row && g > 0) dev_.push_back({qi->second, *row, 1.0f, qi->second});
    for (const auto& h : bm25().search(ds_.queries[qi->second].text, 20)) {
      auto it = j.find(ds_.corpus.docs[h.row].id);
      if (it == j.end() || it->second <= 0) dev_.push_back({qi->second, h.row, 0.0f, qi->second});
    }
  }
  std::sort(dev_.begin(), dev_.end(), [](const DevItem& a, const DevItem& b) {
    return std::tie(a.group, a.doc, a.label) < std::tie(b.group, b.doc, b.label);
  });
}


// One BM25 look-alike per training pair: a doc of the query's BM25 top
// `hard_negative_depth` that is not relevant, the negative that forces the
// student past word overlap. Deep pools match what pre-rank re-scores.
void PrerankTrainer::mine_hard_negatives() {
  std::unordered_set<std::uint32_t> queries;
  for (const auto& p : positives_) queries.insert(p.query);
  std::vector<std::uint32_t> qs(queries.begin(), queries.end());
  std::sort(qs.begin(), qs.end());
  for (auto q : qs) {
    std::vector<std::uint32_t> cands;
    for (const auto& h : bm25().search(ds_.queries[q].text, o_.hard_negative_depth))
      if (!relevant_[q].count(h.row)) cands.push_back(h.row);
    hard_[q] = cands;
  }
  log_("fit: mined BM25 hard negatives for " + std::to_string(qs.size()) + " queries");
}

}  // namespace funnel::train
