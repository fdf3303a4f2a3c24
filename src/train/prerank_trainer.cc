#include "train/prerank_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "funnel/data.h"
#include "funnel/error.h"
#include "funnel/metrics.h"
#include "funnel/recall.h"
#include "model/batching.h"
#include "model/features.h"
#include "model/pretrained.h"
#include "model/ranker_model.h"
#include "model/two_tower.h"
#include "train/distill.h"
#include "train/torch_threads.h"
#include "util/fs.h"
#include "util/rng.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace funnel::model;
using Clock = std::chrono::steady_clock;

namespace {

struct Pair {
  std::uint32_t query;  // index into the query list
  std::uint32_t doc;    // corpus row
};
struct Triple {
  std::uint32_t query, better, worse;
};
// One scored dev example.
struct DevItem {
  std::uint32_t query, doc;
  float label;
  std::uint64_t group;
};

// Dev queries replayed through the cascade the stage serves: BM25's top
// `depth` docs, re-scored by the student, the top `keep` kept.
struct CascadeDev {
  std::vector<std::uint32_t> query;                       // query index
  std::vector<std::vector<std::uint32_t>> rows;           // BM25 candidates, BM25 order
  std::vector<std::vector<float>> bm25;                   // their BM25 scores
  std::vector<std::unordered_set<std::uint32_t>> relevant;// rows with grade > 0
  std::vector<std::size_t> n_relevant;                    // all judged-relevant docs of the query
  double bm25_recall = 0;                                 // BM25's own top `keep`
};

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

void save_atomically(const std::function<void(const std::string&)>& save, const fs::path& dest) {
  fs::path tmp = dest;
  tmp += ".tmp";
  save(tmp.string());
  detail::fsync_path(tmp);
  fs::rename(tmp, dest);
}

class Trainer {
 public:
  Trainer(const fs::path& data, const fs::path& out, const PrerankTrainOptions& o,
          const std::function<void(const std::string&)>& log)
      : data_(data), dir_(out / "prerank"), o_(o), log_(log), rng_(o.seed) {}

  PrerankTrainResult run() {
    validate();
    torch::manual_seed(o_.seed);
    init_torch_threads(o_.threads);
    fs::create_directories(dir_);
    load_data();
    build_model();
    if (!o_.teacher.empty()) load_teacher();
    if (!o_.ranker_scores.empty()) load_ranker_scores();
    setup_child_tuning();
    PrerankTrainResult res;
    res.model_dir = dir_;
    res.dev_metric = dev_metric_;
    int start_epoch = 1;
    double best = -1;
    int best_epoch = 0;
    fs::path ckpt = dir_ / "checkpoint.pt";
    if (o_.resume && fs::exists(ckpt)) {
      torch::serialize::InputArchive in;
      in.load_from(ckpt.string());
      model_->load(in);
      torch::serialize::InputArchive opt_in;
      in.read("optimizer", opt_in);
      optimizer_->load(opt_in);
      torch::Tensor meta;
      in.read("meta", meta);
      start_epoch = static_cast<int>(meta[0].item<double>()) + 1;
      // The stored best is comparable only if it measured the same thing.
      {
        std::ifstream mf(dir_ / "checkpoint.json");
        json m = json::parse(mf, nullptr, false);
        const std::string stored = m.is_object() ? m.value("dev_metric", "") : "";
        if (stored != dev_metric_)
          throw Error("fit: --resume: the checkpoint in " + dir_.string() + " ranked epochs by '" +
                      (stored.empty() ? std::string("an unrecorded metric") : stored) + "', this run by '" + dev_metric_ +
                      "' (train into a new --out)");
      }
      best = meta[1].item<double>();
      best_epoch = static_cast<int>(meta[2].item<double>());
      res.untrained_dev_auc = meta[3].item<double>();
      if (fs::exists(dir_ / "fusion.json")) {
        std::ifstream f(dir_ / "fusion.json");
        res.fusion_weight = json::parse(f).value("recall_weight", 0.0);
      }
      log_("fit: resuming after epoch " + std::to_string(start_epoch - 1) + " (best dev AUC " + fmt("%.4f", best) + ")");
    } else {
      auto m = evaluate_all();
      res.untrained_dev_auc = m.dev_auc;
      res.untrained = m;
      log_("fit: untrained model: dev " + dev_metric_ + " " + fmt("%.4f", m.dev_auc) + describe(m));
    }
    res.bm25_recall = cascade_.query.empty() ? std::nan("") : cascade_.bm25_recall;
    for (int epoch = start_epoch; epoch <= o_.epochs; ++epoch) {
      auto t0 = Clock::now();
      double loss = train_epoch(epoch);
      EpochLog e = evaluate_all();
      e.epoch = epoch;
      e.loss = loss;
      e.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      res.epochs.push_back(e);
      log_("fit: epoch " + std::to_string(epoch) + " loss " + fmt("%.4f", loss) + " dev " + fmt("%.4f", e.dev_auc) +
           describe(e) + " (" + fmt("%.0f", e.seconds) + " s)");
      if (e.dev_auc > best) {
        best = e.dev_auc;
        best_epoch = epoch;
        save_atomically([&](const std::string& p) { torch::save(model_, p); }, dir_ / "model.pt");
        detail::AtomicFile f(dir_ / "fusion.json");
        json fj{{"recall_weight", std::isnan(e.fusion_weight) ? 0.0 : e.fusion_weight},
                {"recall_channel", "bm25"}, {"epoch", epoch}};
        if (!std::isnan(e.hybrid_fusion_weight)) fj["recall_weight_hybrid"] = e.hybrid_fusion_weight;
        f.stream() << fj.dump(2) << '\n';
        f.commit();
        res.fusion_weight = std::isnan(e.fusion_weight) ? 0.0 : e.fusion_weight;
      }
      append_log(e);
      save_checkpoint(epoch, best, best_epoch, res.untrained_dev_auc);
    }
    res.best_dev_auc = best;
    res.best_epoch = best_epoch;
    head_report(res);
    return res;
  }

 private:
  void validate() {
    if (o_.matcher == "dot") o_.nq = o_.nd = 1;
    if (o_.batch < 2) throw Error("fit: --batch must be >= 2");
    if (!o_.child_tuning.empty() && o_.child_tuning != "F" && o_.child_tuning != "D")
      throw Error("fit: --child-tuning must be F or D");
    if (!(o_.child_rate > 0 && o_.child_rate <= 1)) throw Error("fit: --child-rate must be in (0, 1]");
    if (!(o_.distill_temperature > 0)) throw Error("fit: --distill-temperature must be > 0");
    if (!(o_.distill_margin >= 0) || !(o_.distill_inbatch >= 0)) throw Error("fit: distillation weights must be >= 0");
    if (o_.epochs < 1) throw Error("fit: --epochs must be >= 1");
    if (!(o_.lr > 0)) throw Error("fit: --lr must be > 0");
    if (!o_.ranker_scores.empty()) {
      const fs::path f = fs::path(o_.ranker_scores) / "rank" / "train_scores.jsonl";
      if (!fs::is_regular_file(f)) throw Error(f.string() + ": missing (train the ranker with `funnel fit --stage rank` first)");
      if (!(o_.distill_ranker >= 0) || !(o_.ranker_temperature > 0)) throw Error("fit: --distill-ranker must be >= 0 and its temperature > 0");
      if (!(o_.ranker_rise >= 0 && o_.ranker_final >= 0 && o_.ranker_rise + o_.ranker_final <= 1))
        throw Error("fit: the ranker schedule needs rise >= 0, final >= 0 and rise + final <= 1");
      if (o_.ranker_queries < 1 || o_.ranker_list < 2) throw Error("fit: ranker distillation needs >= 1 query and >= 2 docs per list");
    }
    if (!(o_.temperature > 0)) throw Error("fit: --temperature must be > 0");
    if (o_.device != "cpu") {
      if (!torch::cuda::is_available())
        throw Error("fit: --device " + o_.device + " requested but this libtorch build sees no CUDA device");
    }
    encoder_preset(o_.preset);  // throws on an unknown preset
  }

  void load_data() {
    log_("fit: reading " + data_.string());
    ds_ = load_dataset(data_);
    for (std::size_t i = 0; i < ds_.queries.size(); ++i) query_index_[ds_.queries[i].id] = static_cast<std::uint32_t>(i);
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
    // Logs: clicks are positives; clicked-below-skipped pairs train the
    // pairwise loss; dev-split impressions measure click AUC.
    fs::path imp = data_ / "impressions.jsonl";
    if (fs::exists(imp)) {
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
    fs::path labels = data_ / "human_labels.tsv";
    if (fs::exists(labels)) {
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

  // Without logs: dev AUC of relevant docs against BM25 look-alikes.
  void build_label_dev(const Qrels& dev) {
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
    ensure_bm25();
    build_cascade_dev(dev);
    if (!cascade_.query.empty())
      dev_metric_ = "Recall@" + std::to_string(o_.cascade_keep) + " of BM25's top " + std::to_string(o_.cascade_depth) +
                    " re-scored (student + fitted BM25 weight)";
    for (auto& [q, j] : dev) {
      auto qi = query_index_.find(q);
      if (qi == query_index_.end()) continue;
      for (auto& [d, g] : j)
        if (auto row = ds_.corpus.find(d); row && g > 0) dev_.push_back({qi->second, *row, 1.0f, qi->second});
      for (const auto& h : bm25_->search(ds_.queries[qi->second].text, 20)) {
        auto it = j.find(ds_.corpus.docs[h.row].id);
        if (it == j.end() || it->second <= 0) dev_.push_back({qi->second, h.row, 0.0f, qi->second});
      }
    }
    std::sort(dev_.begin(), dev_.end(), [](const DevItem& a, const DevItem& b) {
      return std::tie(a.group, a.doc, a.label) < std::tie(b.group, b.doc, b.label);
    });
  }

  // Every k-th dev query (sorted ids, deterministic) with a relevant doc:
  // its BM25 candidates, their scores and the relevant rows.
  void build_cascade_dev(const Qrels& dev) {
    if (o_.cascade_queries == 0 || o_.cascade_keep == 0 || o_.cascade_depth < o_.cascade_keep) return;
    std::vector<std::string> ids;
    for (auto& [q, j] : dev)
      if (query_index_.count(q) && std::any_of(j.begin(), j.end(), [](const auto& kv) { return kv.second > 0; }))
        ids.push_back(q);
    std::sort(ids.begin(), ids.end());
    const std::size_t stride = std::max<std::size_t>(1, (ids.size() + o_.cascade_queries - 1) / o_.cascade_queries);
    double bm25_sum = 0;
    for (std::size_t i = 0; i < ids.size(); i += stride) {
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
      for (const auto& h : bm25_->search(ds_.queries[qi].text, o_.cascade_depth)) {
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
  // approximates), docs found only by the student having no BM25 score, as
  // at serving time; its weight is fitted apart (hybrid_*).
  void evaluate_cascade(EpochLog& e) {
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
      parts.push_back(model_->encode_docs(make_doc_batch(docs_, slice)));
    }
    for (std::size_t i = 0; i < all.size(); ++i) pos[all[i]] = static_cast<std::int64_t>(i);
    auto docs = torch::cat(parts);
    auto queries = model_->encode_queries(make_token_batch(queries_, cascade_.query, &queries_bow_));
    // Per query: (student score, BM25 score or 0, row) of BM25's candidates,
    // and of the hybrid list.
    struct Cand {
      float student, bm25;
      std::uint32_t row;
    };
    std::vector<std::vector<Cand>> lists(cascade_.query.size()), hybrid_lists;
    if (hybrid) hybrid_lists.resize(cascade_.query.size());
    for (std::size_t i = 0; i < cascade_.query.size(); ++i) {
      auto q = queries.slice(0, static_cast<std::int64_t>(i), static_cast<std::int64_t>(i) + 1);
      std::vector<std::int64_t> idx;
      for (auto r : cascade_.rows[i]) idx.push_back(pos[r]);
      auto sc = model_->score_matrix(q, docs.index_select(0, torch::tensor(idx, torch::kLong))).reshape({-1}).contiguous();
      const float* sp = sc.data_ptr<float>();
      for (std::size_t j = 0; j < idx.size(); ++j) lists[i].push_back({sp[j], cascade_.bm25[i][j], cascade_.rows[i][j]});
      if (!hybrid) continue;
      hybrid_lists[i] = lists[i];
      std::unordered_set<std::uint32_t> seen(cascade_.rows[i].begin(), cascade_.rows[i].end());
      auto full = model_->score_matrix(q, docs).reshape({-1});
      auto top = full.topk(static_cast<std::int64_t>(std::min<std::size_t>(o_.cascade_depth, all.size())));
      auto tv = std::get<0>(top).contiguous(), ti = std::get<1>(top).contiguous();
      for (std::int64_t j = 0; j < ti.numel(); ++j) {
        const auto row = all[static_cast<std::size_t>(ti.data_ptr<std::int64_t>()[j])];
        if (seen.insert(row).second) hybrid_lists[i].push_back({tv.data_ptr<float>()[j], 0.0f, row});
      }
    }
    model_->train();
    auto recall = [&](const std::vector<std::vector<Cand>>& ls, double w) {
      double sum = 0;
      std::vector<std::pair<float, std::uint32_t>> ranked;
      for (std::size_t i = 0; i < ls.size(); ++i) {
        float top = 1e-6f;
        for (const auto& c : ls[i]) top = std::max(top, c.bm25);
        ranked.clear();
        for (const auto& c : ls[i]) ranked.push_back({c.student + static_cast<float>(w) * c.bm25 / top, c.row});
        const std::size_t n = std::min(o_.cascade_keep, ranked.size());
        std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end(),
                          [](const auto& x, const auto& y) { return x.first > y.first || (x.first == y.first && x.second < y.second); });
        std::size_t hits = 0;
        for (std::size_t j = 0; j < n; ++j) hits += cascade_.relevant[i].count(ranked[j].second);
        sum += static_cast<double>(hits) / static_cast<double>(std::max<std::size_t>(1, cascade_.n_relevant[i]));
      }
      return sum / static_cast<double>(std::max<std::size_t>(1, ls.size()));
    };
    auto fit = [&](const std::vector<std::vector<Cand>>& ls, double& best_recall, double& best_w) {
      best_recall = recall(ls, 0);
      best_w = 0;
      for (double w : {0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0}) {
        const double r = recall(ls, w);
        if (r > best_recall) {
          best_recall = r;
          best_w = w;
        }
      }
    };
    e.cascade_recall = recall(lists, 0);
    fit(lists, e.fused_recall, e.fusion_weight);
    e.hybrid_recall = e.hybrid_fusion_weight = std::nan("");
    if (hybrid) fit(hybrid_lists, e.hybrid_recall, e.hybrid_fusion_weight);
  }

  EpochLog evaluate_all() {
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

  std::string describe(const EpochLog& e) const {
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

  void ensure_bm25() {
    if (bm25_) return;
    fs::path tmp = dir_ / "bm25.tmp";
    std::error_code ec;
    fs::remove_all(tmp, ec);
    build_bm25_index(ds_.corpus, tmp, Bm25Options{});
    bm25_ = open_bm25_channel(tmp, Bm25Options{});
  }

  // One BM25 look-alike per training pair: a doc of the query's BM25 top
  // `hard_negative_depth` that is not relevant, the negative that forces the
  // student past word overlap. Deep pools match what pre-rank re-scores.
  void mine_hard_negatives() {
    ensure_bm25();
    std::unordered_set<std::uint32_t> queries;
    for (const auto& p : positives_) queries.insert(p.query);
    std::vector<std::uint32_t> qs(queries.begin(), queries.end());
    std::sort(qs.begin(), qs.end());
    for (auto q : qs) {
      std::vector<std::uint32_t> cands;
      for (const auto& h : bm25_->search(ds_.queries[q].text, o_.hard_negative_depth))
        if (!relevant_[q].count(h.row)) cands.push_back(h.row);
      hard_[q] = cands;
    }
    log_("fit: mined BM25 hard negatives for " + std::to_string(qs.size()) + " queries");
  }

  void build_model() {
    TwoTowerConfig c;
    c.preset = o_.preset;
    c.encoder = encoder_preset(o_.preset);
    c.encoder.pooling = o_.pooling;
    if (o_.hidden > 0) {
      c.encoder.hidden = o_.hidden;
      c.encoder.ffn = 4 * o_.hidden;
    }
    if (o_.layers > 0) c.encoder.layers = o_.layers;
    c.shared_encoder = o_.shared_encoder;
    c.nq = o_.nq;
    c.nd = o_.nd;
    c.head_dim = o_.head_dim;
    c.cosine = o_.cosine;
    c.matcher = o_.matcher;
    c.beta = o_.beta;
    c.use_image = o_.use_image;
    c.use_author = o_.use_author;
    c.split_fields = o_.split_fields;
    c.bow_buckets = o_.bow_buckets;
    c.image_dim = ds_.corpus.image_dim;
    fs::path tok_prefix = dir_ / "tokenizer";
    PretrainedEncoder pre;
    if (!o_.init.empty()) {
      pre = load_pretrained(o_.init);
      const auto& e = c.encoder;
      if (pre.config.hidden != e.hidden || pre.config.layers != e.layers || pre.config.heads != e.heads || pre.config.ffn != e.ffn)
        throw Error("fit: --init " + o_.init + ": the pre-trained encoder's shape (hidden " + std::to_string(pre.config.hidden) +
                    ", layers " + std::to_string(pre.config.layers) + ") differs from this model's (hidden " +
                    std::to_string(e.hidden) + ", layers " + std::to_string(e.layers) + "); pre-train with the same preset");
      c.encoder.vocab_size = pre.config.vocab_size;
      c.encoder.max_len = std::min(c.encoder.max_len, pre.config.max_len);
      if (!(o_.resume && fs::exists(dir_ / "tokenizer.model")))
        fs::copy_file(pre.tokenizer, dir_ / "tokenizer.model", fs::copy_options::overwrite_existing);
    } else if (!(o_.resume && fs::exists(dir_ / "tokenizer.model"))) {
      std::vector<std::string> text;
      for (const auto& d : ds_.corpus.docs) text.push_back(doc_text(d));
      std::unordered_set<std::uint32_t> train_queries;
      for (const auto& p : positives_) train_queries.insert(p.query);
      std::vector<std::uint32_t> qs(train_queries.begin(), train_queries.end());
      std::sort(qs.begin(), qs.end());  // a fixed order keeps the tokenizer deterministic
      for (auto q : qs) text.push_back(ds_.queries[q].text);
      log_("fit: training the tokenizer (vocab " + std::to_string(c.encoder.vocab_size) + ")");
      Tokenizer::train(text, tok_prefix, c.encoder.vocab_size, o_.seed);
    }
    tokenizer_ = std::make_unique<Tokenizer>(dir_ / "tokenizer.model");
    c.encoder.vocab_size = tokenizer_->vocab_size();
    two_tower_from_json(to_json(c), "model config");  // validates
    if (o_.resume && fs::exists(dir_ / "checkpoint.pt") && fs::exists(dir_ / "config.json")) {
      // A resumed run must be the same model: refuse changed shapes or options.
      std::ifstream in(dir_ / "config.json");
      json before = json::parse(in, nullptr, false);
      const json now = to_json(c);
      if (before.is_discarded()) throw Error((dir_ / "config.json").string() + ": malformed JSON; cannot --resume");
      for (auto it = now.begin(); it != now.end(); ++it)
        if (!before.contains(it.key()) || before[it.key()] != it.value())
          throw Error("fit: --resume: option '" + it.key() + "' is " + it.value().dump() + " but the run in " +
                      dir_.string() + " used " + (before.contains(it.key()) ? before[it.key()].dump() : "no such option") +
                      " (rerun with the same options, or train into a new --out)");
    }
    {
      detail::AtomicFile f(dir_ / "config.json");
      f.stream() << to_json(c).dump(2) << '\n';
      f.commit();
    }
    config_ = c;
    docs_ = featurize_docs(ds_.corpus, *tokenizer_, c);
    std::vector<std::string> qtexts;
    for (const auto& q : ds_.queries) qtexts.push_back(q.text);
    queries_ = featurize_queries(qtexts, *tokenizer_, c);
    if (c.bow_buckets > 0) queries_bow_ = bow_of_texts(qtexts, c.bow_buckets);
    model_ = TwoTower(c);
    if (!o_.init.empty()) {
      copy_encoder(pre, model_->query_encoder());
      if (!c.shared_encoder) copy_encoder(pre, model_->doc_encoder());
      log_("fit: encoders initialised from the pre-trained one in " + o_.init + " (mask rate " + fmt("%.2f", pre.mask_rate) + ")");
    }
    optimizer_ = std::make_unique<torch::optim::AdamW>(model_->parameters(),
                                                       torch::optim::AdamWOptions(o_.lr).weight_decay(0.01));
    std::int64_t params = 0;
    for (const auto& p : model_->parameters()) params += p.numel();
    log_("fit: model " + o_.preset + " / " + o_.matcher + ", " + std::to_string(params) + " parameters, " +
         std::to_string(model_->flops_per_pair()) + " matcher FLOPs per pair");
  }

  double train_epoch(int epoch) {
    model_->train();
    // Every random draw of an epoch (batches, negatives, dropout) derives
    // from (seed, epoch), so a resumed run repeats an uninterrupted one.
    detail::Rng rng(o_.seed * 1000003ull + static_cast<std::uint64_t>(epoch));
    torch::manual_seed(o_.seed * 1000003ull + static_cast<std::uint64_t>(epoch));
    std::vector<std::uint32_t> order(positives_.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    const std::size_t B = static_cast<std::size_t>(o_.batch);
    std::size_t steps = o_.steps_per_epoch > 0 ? static_cast<std::size_t>(o_.steps_per_epoch)
                                               : std::max<std::size_t>(1, order.size() / B);
    double total = 0;
    auto t0 = Clock::now();
    for (std::size_t step = 0; step < steps; ++step) {
      std::vector<std::uint32_t> qrows, drows, negs;
      for (std::size_t b = 0; b < B; ++b) {
        const Pair& p = positives_[order[(step * B + b) % order.size()]];
        qrows.push_back(p.query);
        drows.push_back(p.doc);
        const auto& h = hard_[p.query];
        negs.push_back(!h.empty() ? h[rng.below(h.size())] : static_cast<std::uint32_t>(rng.below(ds_.corpus.docs.size())));
      }
      std::vector<std::uint32_t> all_docs = drows;
      all_docs.insert(all_docs.end(), negs.begin(), negs.end());
      auto q = model_->encode_queries(make_token_batch(queries_, qrows, &queries_bow_));
      auto d = model_->encode_docs(make_doc_batch(docs_, all_docs));
      auto raw = model_->score_matrix(q, d);                      // [B, 2B]
      auto scores = raw / o_.temperature;
      // Another row's positive is no negative when it is the same doc or
      // the same query: mask those cells out of the softmax.
      auto mask = torch::zeros({static_cast<std::int64_t>(B), static_cast<std::int64_t>(2 * B)}, torch::kBool);
      auto ma = mask.accessor<bool, 2>();
      for (std::size_t i = 0; i < B; ++i)
        for (std::size_t j = 0; j < 2 * B; ++j)
          if (j != i && (all_docs[j] == drows[i] || (j < B && qrows[j] == qrows[i]) || relevant_[qrows[i]].count(all_docs[j])))
            ma[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(j)] = true;
      scores = scores.masked_fill(mask, -1e9);
      auto loss = torch::nn::functional::cross_entropy(scores, torch::arange(static_cast<std::int64_t>(B)));
      if (!click_pairs_.empty() && o_.pairwise_weight > 0)
        loss = loss + o_.pairwise_weight * pairwise_loss(click_pairs_, B / 2, rng);
      if (!label_pairs_.empty() && o_.graded_weight > 0)
        loss = loss + o_.graded_weight * pairwise_loss(label_pairs_, B / 2, rng);
      if (teacher_) loss = loss + distill_loss(raw, mask, qrows, all_docs);
      if (!ranker_lists_.empty()) {
        const auto total_steps = static_cast<std::int64_t>(steps) * o_.epochs;
        const auto global = static_cast<std::int64_t>(steps) * (epoch - 1) + static_cast<std::int64_t>(step);
        const DistillWeights w = distill_schedule(global, total_steps, o_.distill_ranker, o_.ranker_rise, o_.ranker_final);
        loss = w.own * loss;
        if (w.distill > 0) loss = loss + w.distill * ranker_loss(qrows, rng);
      }
      optimizer_->zero_grad();
      loss.backward();
      if (child_) child_->apply(model_->parameters());
      torch::nn::utils::clip_grad_norm_(model_->parameters(), 1.0);
      optimizer_->step();
      total += loss.item<double>();
      if ((step + 1) % 25 == 0 || step + 1 == steps) {
        double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        double per_step = secs / static_cast<double>(step + 1);
        log_("fit: epoch " + std::to_string(epoch) + " step " + std::to_string(step + 1) + "/" + std::to_string(steps) +
             " loss " + fmt("%.4f", total / static_cast<double>(step + 1)) + ", " +
             fmt("%.0f", static_cast<double>(B) / per_step) + " examples/s, eta " +
             fmt("%.0f", per_step * static_cast<double>(steps - step - 1)) + " s");
      }
    }
    return total / static_cast<double>(steps);
  }

  // The teacher's scores of the same batch: MarginMSE on each pair's
  // (positive, hard negative), KL on each query's row over the batch's docs
  // (cells masked for the student are masked for both). Both models' raw
  // scores are divided by the InfoNCE temperature first, so the losses act
  // on the logits the student's own loss uses: on raw cosine scores in
  // [-1, 1] a softmax over the batch is almost flat and margins are tiny,
  // and the distillation terms moved nothing (the first ablation run).
  torch::Tensor distill_loss(const torch::Tensor& raw, const torch::Tensor& mask,
                             const std::vector<std::uint32_t>& qrows, const std::vector<std::uint32_t>& all_docs) {
    torch::Tensor t;
    {
      torch::NoGradGuard no_grad;
      t = teacher_->score_matrix(teacher_->encode_queries(make_token_batch(teacher_queries_, qrows, &teacher_queries_bow_)),
                                 teacher_->encode_docs(make_doc_batch(teacher_docs_, all_docs))) /
          o_.temperature;
    }
    const auto student = raw / o_.temperature;
    const auto B = static_cast<std::int64_t>(qrows.size());
    auto idx = torch::arange(B);
    auto loss = torch::zeros({});
    if (o_.distill_margin > 0)
      loss = loss + o_.distill_margin * margin_mse(student.index({idx, idx}), student.index({idx, idx + B}),
                                                   t.index({idx, idx}), t.index({idx, idx + B}));
    if (o_.distill_inbatch > 0)
      loss = loss + o_.distill_inbatch * inbatch_kl(student, t.masked_fill(mask, -INFINITY), o_.distill_temperature);
    return loss;
  }

  // Reads the ranker's stored scores (MODELS/rank/train_scores.jsonl) and
  // checks they came from the ranker now saved there.
  void load_ranker_scores() {
    const fs::path f = fs::path(o_.ranker_scores) / "rank" / "train_scores.jsonl";
    std::ifstream in(f);
    if (!in) throw Error(f.string() + ": missing (train the ranker with `funnel fit --stage rank` first)");
    std::string line;
    std::size_t lineno = 0;
    auto bad = [&](const std::string& what) { return Error(f.string() + ":" + std::to_string(lineno) + ": " + what); };
    while (std::getline(in, line)) {
      ++lineno;
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) throw bad("malformed JSON");
      if (lineno == 1) {
        if (!j.contains("model_id") || !j["model_id"].is_string()) throw bad("the header line needs 'model_id'");
        ranker_model_id_ = j["model_id"];
        continue;
      }
      if (!j.contains("query_id") || !j.contains("docs") || !j.contains("scores") || !j["docs"].is_array() ||
          !j["scores"].is_array() || j["docs"].size() != j["scores"].size())
        throw bad("expected query_id, and docs and scores of equal length");
      auto qi = query_index_.find(j["query_id"].get<std::string>());
      if (qi == query_index_.end()) throw bad("query '" + j["query_id"].get<std::string>() + "' is not in queries.jsonl");
      auto& list = ranker_lists_[qi->second];
      for (std::size_t i = 0; i < j["docs"].size(); ++i) {
        if (!j["docs"][i].is_string() || !j["scores"][i].is_number()) throw bad("docs must be ids and scores numbers");
        auto row = ds_.corpus.find(j["docs"][i].get<std::string>());
        if (!row) throw bad("doc '" + j["docs"][i].get<std::string>() + "' is not in the corpus");
        list.push_back({*row, j["scores"][i].get<float>()});
      }
      if (list.size() < 2) ranker_lists_.erase(qi->second);
    }
    if (lineno == 0) throw Error(f.string() + ": empty");
    // Scores from an older ranker than the one saved beside them are stale.
    if (fs::exists(fs::path(o_.ranker_scores) / "rank" / "model.pt")) {
      const std::string now = RankerModel::model_id_of(o_.ranker_scores);
      if (now != ranker_model_id_)
        throw Error(f.string() + ": the scores were stored by ranker " + ranker_model_id_ + " but " + o_.ranker_scores +
                    " now holds " + now + " (retrain the ranker to store fresh scores)");
    }
    for (auto& [q, l] : ranker_lists_) ranker_queries_.push_back(q);
    std::sort(ranker_queries_.begin(), ranker_queries_.end());
    log_("fit: distilling ranker " + ranker_model_id_ + " from its stored scores of " + std::to_string(ranker_lists_.size()) +
         " training queries: weight up to " + fmt("%.2f", o_.distill_ranker) + " over the first " +
         fmt("%.0f%%", 100 * o_.ranker_rise) + " of training, own losses off in the last " + fmt("%.0f%%", 100 * o_.ranker_final));
    std::ofstream meta(dir_ / "distill.json");
    meta << json{{"ranker_model_id", ranker_model_id_}, {"ranker_scores", f.string()}, {"weight", o_.distill_ranker},
                 {"temperature", o_.ranker_temperature}, {"rise", o_.ranker_rise}, {"final", o_.ranker_final}}.dump(2)
         << '\n';
  }

  // KL between the ranker's and the student's softmax over a query's stored
  // candidates, for up to ranker_queries queries of the batch that have them
  // (others are drawn from the stored queries).
  torch::Tensor ranker_loss(const std::vector<std::uint32_t>& batch_queries, detail::Rng& rng) {
    std::vector<std::uint32_t> qs;
    for (auto q : batch_queries)
      if (qs.size() < static_cast<std::size_t>(o_.ranker_queries) && ranker_lists_.count(q)) qs.push_back(q);
    while (qs.size() < static_cast<std::size_t>(o_.ranker_queries)) qs.push_back(ranker_queries_[rng.below(ranker_queries_.size())]);
    const std::size_t Lr = static_cast<std::size_t>(o_.ranker_list);
    std::vector<std::uint32_t> qrows, drows;
    std::vector<float> teacher;
    for (auto q : qs) {
      const auto& l = ranker_lists_.at(q);
      for (std::size_t k = 0; k < Lr; ++k) {
        const auto& e = l[rng.below(l.size())];
        qrows.push_back(q);
        drows.push_back(e.first);
        teacher.push_back(e.second);
      }
    }
    const auto Q = static_cast<std::int64_t>(qs.size()), L = static_cast<std::int64_t>(Lr);
    auto s = model_->score_pairs(model_->encode_queries(make_token_batch(queries_, qrows, &queries_bow_)),
                                 model_->encode_docs(make_doc_batch(docs_, drows)))
                 .reshape({Q, L}) / o_.temperature;
    return inbatch_kl(s, torch::tensor(teacher).reshape({Q, L}), o_.ranker_temperature);
  }

  void load_teacher() {
    const fs::path dir = fs::path(o_.teacher) / "prerank";
    for (const char* f : {"config.json", "tokenizer.model", "model.pt"})
      if (!fs::is_regular_file(dir / f)) throw Error((dir / f).string() + ": missing (--teacher needs a trained models folder)");
    std::ifstream in(dir / "config.json");
    json j;
    try {
      j = json::parse(in);
    } catch (const json::exception& e) {
      throw Error((dir / "config.json").string() + ": malformed JSON (" + e.what() + ")");
    }
    TwoTowerConfig tc = two_tower_from_json(j, (dir / "config.json").string());
    teacher_tokenizer_ = std::make_unique<Tokenizer>(dir / "tokenizer.model");
    teacher_ = TwoTower(tc);
    try {
      torch::load(teacher_, (dir / "model.pt").string());
    } catch (const c10::Error& e) {
      throw Error((dir / "model.pt").string() + ": cannot load the teacher: " + e.what_without_backtrace());
    }
    teacher_->eval();
    teacher_docs_ = featurize_docs(ds_.corpus, *teacher_tokenizer_, tc);
    std::vector<std::string> qtexts;
    for (const auto& q : ds_.queries) qtexts.push_back(q.text);
    teacher_queries_ = featurize_queries(qtexts, *teacher_tokenizer_, tc);
    if (tc.bow_buckets > 0) teacher_queries_bow_ = bow_of_texts(qtexts, tc.bow_buckets);
    std::int64_t params = 0;
    for (const auto& p : teacher_->parameters()) params += p.numel();
    log_("fit: teacher " + o_.teacher + " (" + tc.preset + ", " + std::to_string(params) + " parameters): MarginMSE x " +
         fmt("%.2f", o_.distill_margin) + ", in-batch KL x " + fmt("%.2f", o_.distill_inbatch) + " at T " +
         fmt("%.2f", o_.distill_temperature));
  }

  // ChildTuning-D's Fisher information: squared gradients of the in-batch
  // loss over a few batches drawn from the seed, before any update.
  void setup_child_tuning() {
    if (o_.child_tuning.empty()) return;
    child_ = std::make_unique<ChildTuning>(o_.child_tuning == "D" ? ChildTuning::task_driven(o_.child_rate)
                                                                 : ChildTuning::task_free(o_.child_rate));
    if (o_.child_tuning != "D") {
      log_("fit: ChildTuning-F, rate " + fmt("%.2f", o_.child_rate));
      return;
    }
    detail::Rng rng(o_.seed * 7919ull + 17);
    const std::size_t B = static_cast<std::size_t>(o_.batch);
    for (int b = 0; b < o_.child_fisher_batches; ++b) {
      std::vector<std::uint32_t> qrows, drows;
      for (std::size_t i = 0; i < B; ++i) {
        const Pair& p = positives_[rng.below(positives_.size())];
        qrows.push_back(p.query);
        drows.push_back(p.doc);
      }
      auto s = model_->score_matrix(model_->encode_queries(make_token_batch(queries_, qrows, &queries_bow_)),
                                    model_->encode_docs(make_doc_batch(docs_, drows))) / o_.temperature;
      optimizer_->zero_grad();
      torch::nn::functional::cross_entropy(s, torch::arange(static_cast<std::int64_t>(B))).backward();
      child_->accumulate_fisher(model_->parameters());
    }
    optimizer_->zero_grad();
    child_->freeze(model_->parameters());
    log_("fit: ChildTuning-D, rate " + fmt("%.2f", o_.child_rate) + ", child network from the Fisher information of " +
         std::to_string(o_.child_fisher_batches) + " batches");
  }

  // softplus(-(s_better - s_worse)) over a random batch of triples.
  torch::Tensor pairwise_loss(const std::vector<Triple>& pool, std::size_t n, detail::Rng& rng) {
    std::vector<std::uint32_t> qrows, better, worse;
    for (std::size_t i = 0; i < n; ++i) {
      const Triple& t = pool[rng.below(pool.size())];
      qrows.push_back(t.query);
      better.push_back(t.better);
      worse.push_back(t.worse);
    }
    auto q = model_->encode_queries(make_token_batch(queries_, qrows, &queries_bow_));
    auto sb = model_->score_pairs(q, model_->encode_docs(make_doc_batch(docs_, better)));
    auto sw = model_->score_pairs(q, model_->encode_docs(make_doc_batch(docs_, worse)));
    return torch::nn::functional::softplus(sw - sb).mean();
  }

  std::pair<double, double> evaluate(const std::vector<DevItem>& dev_) {
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
      auto out = model_->score_pairs(model_->encode_queries(make_token_batch(queries_, qrows, &queries_bow_)),
                                     model_->encode_docs(make_doc_batch(docs_, drows)));
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

  // Mean cosine matrix between the heads of one side, over a sample.
  static std::vector<double> mean_cosine(const torch::Tensor& heads) {  // [B, n, D]
    auto h = torch::nn::functional::normalize(heads, torch::nn::functional::NormalizeFuncOptions().dim(2));
    auto m = torch::matmul(h, h.transpose(1, 2)).mean(0).contiguous().to(torch::kDouble);  // [n, n]
    return std::vector<double>(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
  }

  void head_report(PrerankTrainResult& res) {
    torch::NoGradGuard no_grad;
    model_->eval();
    std::vector<std::uint32_t> qrows, drows;
    for (std::uint32_t i = 0; i < queries_.size() && qrows.size() < 1000; ++i) qrows.push_back(i);
    for (std::uint32_t i = 0; i < docs_.tokens.size() && drows.size() < 1000; ++i) drows.push_back(i);
    res.query_head_cosine = mean_cosine(model_->encode_queries(make_token_batch(queries_, qrows, &queries_bow_)));
    res.doc_head_cosine = mean_cosine(model_->encode_docs(make_doc_batch(docs_, drows)));
    auto show = [&](const char* what, const std::vector<double>& m, int n) {
      std::string line = std::string("fit: mean cosine between a ") + what + "'s heads:";
      for (int i = 0; i < n; ++i) {
        line += i ? " |" : "";
        for (int j = 0; j < n; ++j) line += " " + fmt("%+.2f", m[static_cast<std::size_t>(i * n + j)]);
      }
      log_(line);
    };
    show("query", res.query_head_cosine, config_.nq);
    show("doc", res.doc_head_cosine, config_.nd);
    std::ofstream out(dir_ / "train_log.jsonl", std::ios::app);
    out << json{{"head_report", {{"query_head_cosine", res.query_head_cosine}, {"doc_head_cosine", res.doc_head_cosine},
                                 {"nq", config_.nq}, {"nd", config_.nd}}}}.dump()
        << '\n';
  }

  void append_log(const EpochLog& e) {
    std::ofstream out(dir_ / "train_log.jsonl", std::ios::app);
    auto num = [](double x) { return std::isnan(x) ? json() : json(x); };
    out << json{{"epoch", e.epoch}, {"loss", e.loss}, {"dev_auc", e.dev_auc}, {"dev_gauc", num(e.dev_gauc)},
                {"click_auc", num(e.click_auc)}, {"click_gauc", num(e.click_gauc)}, {"label_auc", num(e.label_auc)},
                {"cascade_recall", num(e.cascade_recall)}, {"fused_recall", num(e.fused_recall)},
                {"fusion_weight", num(e.fusion_weight)}, {"hybrid_recall", num(e.hybrid_recall)},
                {"hybrid_fusion_weight", num(e.hybrid_fusion_weight)}, {"bm25_recall", num(cascade_.query.empty() ? std::nan("") : cascade_.bm25_recall)},
                {"seconds", e.seconds},
                {"dev_metric", dev_metric_}}.dump()
        << '\n';
  }

  void save_checkpoint(int epoch, double best, int best_epoch, double untrained) {
    save_atomically(
        [&](const std::string& p) {
          torch::serialize::OutputArchive out;
          model_->save(out);
          torch::serialize::OutputArchive opt;
          optimizer_->save(opt);
          out.write("optimizer", opt);
          out.write("meta", torch::tensor({static_cast<double>(epoch), best, static_cast<double>(best_epoch), untrained},
                                          torch::kDouble));
          out.save_to(p);
        },
        dir_ / "checkpoint.pt");
    detail::AtomicFile f(dir_ / "checkpoint.json");
    f.stream() << json{{"epoch", epoch}, {"best", best}, {"best_epoch", best_epoch}, {"dev_metric", dev_metric_}}.dump(2)
               << '\n';
    f.commit();
  }

  fs::path data_, dir_;
  PrerankTrainOptions o_;
  std::function<void(const std::string&)> log_;
  detail::Rng rng_;
  Dataset ds_;
  std::unordered_map<std::string, std::uint32_t> query_index_;
  std::vector<Pair> positives_;
  std::vector<Triple> click_pairs_, label_pairs_;
  std::unordered_map<std::uint32_t, std::unordered_set<std::uint32_t>> relevant_;
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> hard_;
  std::vector<DevItem> dev_, click_dev_;
  bool label_dev_ = false;  // dev_ holds relevant docs vs BM25 look-alikes
  CascadeDev cascade_;
  std::string dev_metric_;
  std::unique_ptr<RecallChannel> bm25_;
  std::unique_ptr<Tokenizer> tokenizer_;
  TwoTowerConfig config_;
  DocFeatures docs_;
  std::vector<std::vector<std::int64_t>> queries_, queries_bow_;
  TwoTower model_{nullptr}, teacher_{nullptr};
  std::unique_ptr<Tokenizer> teacher_tokenizer_;
  DocFeatures teacher_docs_;
  std::vector<std::vector<std::int64_t>> teacher_queries_, teacher_queries_bow_;
  std::unique_ptr<ChildTuning> child_;
  std::unordered_map<std::uint32_t, std::vector<std::pair<std::uint32_t, float>>> ranker_lists_;
  std::vector<std::uint32_t> ranker_queries_;
  std::string ranker_model_id_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
};

}  // namespace

PrerankTrainResult train_prerank(const fs::path& data, const fs::path& out, const PrerankTrainOptions& options,
                                 const std::function<void(const std::string&)>& log) {
  // The scratch BM25 index (hard negatives) goes away whether or not
  // training succeeds.
  struct ScratchCleanup {
    fs::path dir;
    ~ScratchCleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{out / "prerank" / "bm25.tmp"};
  Trainer t(data, out, options, log ? log : [](const std::string&) {});
  return t.run();
}

}  // namespace funnel::train
