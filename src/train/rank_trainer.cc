#include "train/rank_trainer.h"

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
#include "model/cross_ranker.h"
#include "model/features.h"
#include "model/rank_inputs.h"
#include "model/ranker_model.h"
#include "rank/cross_features.h"
#include "model/pretrained.h"
#include "train/torch_threads.h"
#include "util/fs.h"
#include "util/rng.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace funnel::model;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kF = rank::CrossFeatures::kCount;

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

// One training query's candidate list: BM25 order, grades, features.
struct QueryList {
  std::uint32_t query = 0;          // index into the query list
  std::vector<std::uint32_t> rows;  // candidates
  std::vector<float> grade;         // qrels grade, 0 when unjudged
  std::vector<float> feats;         // rows x kF
  std::vector<float> bm25;          // BM25 scores (dev lists only)
};

// One logged impression of a training query, with its feature vector.
struct LoggedExample {
  std::uint32_t query, row;
  float label[6];  // click, watch, finish, like, share, follow
  float feats[kF];
};

const char* const kLogTasks[6] = {"click", "watch", "finish", "like", "share", "follow"};

double default_task_weight(const std::string& t) {
  if (t == "relevance") return 1.0;
  if (t == "click") return 0.5;
  return 0.2;
}

class RankTrainer {
 public:
  RankTrainer(const fs::path& data, const fs::path& out, const RankTrainOptions& o,
              const std::function<void(const std::string&)>& log)
      : data_(data), out_(out), dir_(out / "rank"), o_(o), log_(log) {}

  RankTrainResult run() {
    validate();
    torch::manual_seed(o_.seed);
    init_torch_threads(o_.threads);
    fs::create_directories(dir_);
    load_data();
    build_features();
    build_model();
    RankTrainResult res;
    res.model_dir = dir_;
    res.tasks = config_.tasks;
    res.bm25_dev_ndcg = bm25_dev_ndcg_;
    res.dev_lists = dev_.size();
    res.untrained_dev_ndcg = evaluate_dev().dev_ndcg;
    log_("fit: untrained ranker: dev nDCG@10 " + fmt("%.4f", res.untrained_dev_ndcg) + " (BM25 order of the same lists " +
         fmt("%.4f", bm25_dev_ndcg_) + ")");
    double best = -1;
    {
      std::ofstream trunc(dir_ / "train_log.jsonl", std::ios::trunc);
    }
    for (int epoch = 1; epoch <= o_.epochs; ++epoch) {
      auto t0 = Clock::now();
      RankEpochLog e;
      e.epoch = epoch;
      e.loss = train_epoch(epoch);
      const RankEpochLog d = evaluate_dev();
      e.dev_ndcg = d.dev_ndcg;
      e.fused_ndcg = d.fused_ndcg;
      e.fusion_weight = d.fusion_weight;
      e.grid_ndcg = d.grid_ndcg;
      e.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      res.epochs.push_back(e);
      log_("fit: epoch " + std::to_string(epoch) + " loss " + fmt("%.4f", e.loss) + " dev nDCG@10 " +
           fmt("%.4f", e.dev_ndcg) + ", with BM25 weight " + fmt("%g", e.fusion_weight) + " " + fmt("%.4f", e.fused_ndcg) +
           " (BM25 " + fmt("%.4f", bm25_dev_ndcg_) + ", " + fmt("%.0f", e.seconds) + " s)");
      const double key = std::isnan(e.fused_ndcg) ? static_cast<double>(epoch) : e.fused_ndcg;
      if (key > best || epoch == 1) {
        best = key;
        res.best_epoch = epoch;
        res.best_dev_ndcg = e.fused_ndcg;
        res.best_ranker_ndcg = e.dev_ndcg;
        res.fusion_weight = o_.fusion_weight ? *o_.fusion_weight : std::isnan(e.fusion_weight) ? 0.0 : e.fusion_weight;
        save_model(res.fusion_weight, epoch);
      }
      std::ofstream lg(dir_ / "train_log.jsonl", std::ios::app);
      auto num = [](double x) { return std::isnan(x) ? json() : json(x); };
      lg << json{{"epoch", epoch}, {"loss", e.loss}, {"dev_ndcg10", num(e.dev_ndcg)}, {"fused_dev_ndcg10", num(e.fused_ndcg)},
                 {"fusion_weight", num(e.fusion_weight)},
                 {"bm25_dev_ndcg10", num(bm25_dev_ndcg_)}, {"seconds", e.seconds}}.dump()
         << '\n';
    }
    // Reload the best epoch's weights for the stored scores.
    torch::load(net_, (dir_ / "model.pt").string());
    res.model_id = RankerModel::model_id_of(out_);
    res.stored_queries = store_scores(res.model_id);
    return res;
  }

 private:
  void validate() {
    if (o_.epochs < 1) throw Error("fit: --epochs must be >= 1");
    if (!(o_.lr > 0)) throw Error("fit: --lr must be > 0");
    if (o_.queries_per_step < 1 || o_.list_size < 2) throw Error("fit: need >= 1 query and >= 2 docs per list");
    if (o_.max_len < 8 || o_.max_len > 512) throw Error("fit: --max-len must be in 8..512");
    if (!o_.use_text && !o_.use_features) throw Error("fit: the ranker needs the text tower, the features or both");
    if (o_.candidate_depth < 2) throw Error("fit: --candidate-depth must be >= 2");
    if (o_.fusion_weight && !(*o_.fusion_weight >= 0 && std::isfinite(*o_.fusion_weight)))
      throw Error("fit: the ranker's given BM25 fusion weight must be finite and >= 0");
    for (auto& [t, w] : o_.task_weights) {
      if (std::find(all_rank_tasks().begin(), all_rank_tasks().end(), t) == all_rank_tasks().end())
        throw Error("fit: --task-weights: unknown task '" + t + "' (expected one of relevance, click, watch, finish, like, share, follow)");
      if (!(w >= 0) || !std::isfinite(w)) throw Error("fit: --task-weights: the weight of '" + t + "' must be a number >= 0");
    }
    encoder_preset(o_.preset);
  }

  void load_data() {
    log_("fit: reading " + data_.string());
    ds_ = load_dataset(data_);
    for (std::size_t i = 0; i < ds_.queries.size(); ++i) query_index_[ds_.queries[i].id] = static_cast<std::uint32_t>(i);
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

  // Fold of a training query for the out-of-fold click features.
  int fold_of(std::uint32_t q) const { return static_cast<int>(stable_hash(ds_.queries[q].id) % 2); }

  void build_features() {
    std::unordered_set<std::uint32_t> train_set(train_queries_.begin(), train_queries_.end());
    std::vector<rank::LoggedImpression> all, by_fold[2];
    bool has[6] = {false, false, false, false, false, false};
    for (const auto& im : impressions_) {
      auto qi = query_index_.find(im.query_id);
      if (qi == query_index_.end() || !train_set.count(qi->second)) continue;
      auto row = ds_.corpus.find(im.doc_id);
      if (!row) continue;
      rank::LoggedImpression l{ds_.queries[qi->second].text, *row, im.click};
      all.push_back(l);
      by_fold[fold_of(qi->second)].push_back(l);
      LoggedExample ex{};
      ex.query = qi->second;
      ex.row = *row;
      const float v[6] = {im.click ? 1.0f : 0.0f, std::clamp(im.watch, 0.0f, 1.0f), im.finish ? 1.0f : 0.0f,
                          im.like ? 1.0f : 0.0f,  im.share ? 1.0f : 0.0f,           im.follow ? 1.0f : 0.0f};
      for (int t = 0; t < 6; ++t) {
        ex.label[t] = v[t];
        has[t] = has[t] || v[t] > 0;
      }
      logged_.push_back(ex);
    }
    // Tasks: relevance, then each logged signal the data has.
    tasks_ = {"relevance"};
    for (int t = 0; t < 6; ++t)
      if (has[t]) tasks_.push_back(kLogTasks[t]);
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
    ensure_bm25();
    std::size_t with_relevant = 0;
    for (auto q : train_queries_) {
      QueryList l;
      l.query = q;
      const auto& g = grades_[q];
      for (const auto& h : bm25_->search(ds_.queries[q].text, o_.candidate_depth)) {
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
    // Standardisation from the training candidates.
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
    build_dev();
  }

  void ensure_bm25() {
    if (bm25_) return;
    fs::path tmp = dir_ / "bm25.tmp";
    std::error_code ec;
    fs::remove_all(tmp, ec);
    build_bm25_index(ds_.corpus, tmp, Bm25Options{});
    bm25_ = open_bm25_channel(tmp, Bm25Options{});
  }

  // Up to dev_queries dev queries (sorted ids, evenly spaced): BM25's top
  // candidate_depth with serving features.
  void build_dev() {
    std::vector<std::string> ids;
    for (auto& [q, j] : dev_qrels_)
      if (query_index_.count(q) && std::any_of(j.begin(), j.end(), [](const auto& kv) { return kv.second > 0; }))
        ids.push_back(q);
    std::sort(ids.begin(), ids.end());
    if (ids.empty() || o_.dev_queries == 0) {
      bm25_dev_ndcg_ = std::nan("");
      return;
    }
    const std::size_t stride = std::max<std::size_t>(1, (ids.size() + o_.dev_queries - 1) / o_.dev_queries);
    double sum = 0;
    for (std::size_t i = 0; i < ids.size(); i += stride) {
      QueryList l;
      l.query = query_index_.at(ids[i]);
      auto p = serving_features_->prepare(ds_.queries[l.query].text);
      std::vector<std::string> ranked;
      for (const auto& h : bm25_->search(ds_.queries[l.query].text, o_.candidate_depth)) {
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

  void build_model() {
    CrossRankerConfig c;
    c.preset = o_.preset;
    c.encoder = encoder_preset(o_.preset);
    c.encoder.max_len = o_.max_len;
    c.use_text = o_.use_text;
    c.use_features = o_.use_features;
    c.n_features = o_.use_features ? static_cast<int>(kF) : 0;
    if (o_.use_features) {
      c.feature_mean = mean_;
      c.feature_std = std_;
      for (const auto& n : rank::CrossFeatures::names()) c.feature_names.push_back(n);
    }
    c.dnn = o_.dnn;
    c.tasks = tasks_;
    for (const auto& t : tasks_) {
      auto it = o_.task_weights.find(t);
      c.task_weights.push_back(it != o_.task_weights.end() ? it->second : default_task_weight(t));
      c.score_weights.push_back(t == "relevance" ? 1.0 : 0.0);
    }
    const fs::path tok_prefix = dir_ / "tokenizer";
    PretrainedEncoder pre;
    if (!o_.init.empty()) {
      pre = load_pretrained(o_.init);
      if (pre.config.hidden != c.encoder.hidden || pre.config.layers != c.encoder.layers || pre.config.heads != c.encoder.heads)
        throw Error("fit: --init " + o_.init + ": the pre-trained encoder has another shape than preset " + o_.preset);
      c.encoder.vocab_size = pre.config.vocab_size;
      c.encoder.max_len = std::min(c.encoder.max_len, pre.config.max_len);
      fs::copy_file(pre.tokenizer, dir_ / "tokenizer.model", fs::copy_options::overwrite_existing);
    } else {
      std::vector<std::string> text;
      for (const auto& d : ds_.corpus.docs) text.push_back(doc_text(d));
      for (auto q : train_queries_) text.push_back(ds_.queries[q].text);
      log_("fit: training the tokenizer (vocab " + std::to_string(c.encoder.vocab_size) + ")");
      Tokenizer::train(text, tok_prefix, c.encoder.vocab_size, o_.seed);
    }
    tokenizer_ = std::make_unique<Tokenizer>(dir_ / "tokenizer.model");
    c.encoder.vocab_size = tokenizer_->vocab_size();
    cross_ranker_from_json(to_json(c), "ranker config");  // validates
    config_ = c;
    net_ = CrossRanker(c);
    if (!o_.init.empty() && c.use_text) {
      copy_encoder(pre, net_->encoder());
      log_("fit: encoder initialised from the pre-trained one in " + o_.init);
    }
    if (c.use_text) {
      docs_ = tokenize_rank_docs(ds_.corpus, *tokenizer_, static_cast<std::size_t>(c.encoder.max_len));
      for (const auto& q : ds_.queries)
        queries_.push_back(rank_query_tokens(q.text, *tokenizer_, static_cast<std::size_t>(c.encoder.max_len)));
    }
    optimizer_ = std::make_unique<torch::optim::AdamW>(net_->parameters(), torch::optim::AdamWOptions(o_.lr).weight_decay(0.01));
    std::int64_t params = 0;
    for (const auto& p : net_->parameters()) params += p.numel();
    log_("fit: ranker " + o_.preset + (c.use_text ? " text" : "") + (c.use_features ? " + features" : "") + ", " +
         std::to_string(params) + " parameters");
  }

  // Logits of (query, row) pairs with their feature vectors (n x kF).
  torch::Tensor forward(const std::vector<std::uint32_t>& queries, const std::vector<std::uint32_t>& rows,
                        const std::vector<float>& feats) {
    const auto n = static_cast<std::int64_t>(rows.size());
    TokenBatch tb;
    if (config_.use_text) {
      std::vector<std::vector<std::int64_t>> seqs;
      std::vector<std::uint32_t> idx;
      for (std::size_t i = 0; i < rows.size(); ++i) {
        seqs.push_back(pair_tokens(queries_[queries[i]], docs_.title[rows[i]], docs_.body[rows[i]],
                                   static_cast<std::size_t>(config_.encoder.max_len)));
        idx.push_back(static_cast<std::uint32_t>(i));
      }
      tb = make_token_batch(seqs, idx);
    }
    torch::Tensor f;
    if (config_.use_features) f = torch::from_blob(const_cast<float*>(feats.data()), {n, static_cast<std::int64_t>(kF)}, torch::kFloat).clone();
    return net_->forward(tb, f);
  }

  double train_epoch(int epoch) {
    net_->train();
    detail::Rng rng(o_.seed * 1000003ull + static_cast<std::uint64_t>(epoch) + 77);
    torch::manual_seed(o_.seed * 1000003ull + static_cast<std::uint64_t>(epoch) + 77);
    const std::size_t Q = static_cast<std::size_t>(o_.queries_per_step), L = static_cast<std::size_t>(o_.list_size);
    const std::size_t steps = o_.steps_per_epoch > 0 ? static_cast<std::size_t>(o_.steps_per_epoch)
                                                     : std::max<std::size_t>(1, lists_.size() / Q);
    std::vector<std::uint32_t> order(lists_.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    const bool has_logs = tasks_.size() > 1 && !logged_.empty() && o_.impressions_per_step > 0;
    double total = 0;
    auto t0 = Clock::now();
    for (std::size_t step = 0; step < steps; ++step) {
      // Relevance: Q lists of L candidates, each with a relevant doc.
      std::vector<std::uint32_t> qs, rows;
      std::vector<float> feats, target;
      for (std::size_t b = 0; b < Q; ++b) {
        const QueryList& l = lists_[order[(step * Q + b) % order.size()]];
        std::vector<std::uint32_t> pos, pick;
        for (std::uint32_t i = 0; i < l.rows.size(); ++i)
          if (l.grade[i] > 0) pos.push_back(i);
        pick.push_back(pos[rng.below(pos.size())]);
        while (pick.size() < L) pick.push_back(static_cast<std::uint32_t>(rng.below(l.rows.size())));
        double z = 0;
        for (auto i : pick) z += std::exp2(l.grade[i]) - 1.0;
        for (auto i : pick) {
          qs.push_back(l.query);
          rows.push_back(l.rows[i]);
          feats.insert(feats.end(), l.feats.begin() + static_cast<std::ptrdiff_t>(i * kF),
                       l.feats.begin() + static_cast<std::ptrdiff_t>((i + 1) * kF));
          target.push_back(static_cast<float>((std::exp2(l.grade[i]) - 1.0) / z));
        }
      }
      auto logits = forward(qs, rows, feats);
      auto rel = logits.select(1, 0).reshape({static_cast<std::int64_t>(Q), static_cast<std::int64_t>(L)});
      auto tgt = torch::tensor(target).reshape({static_cast<std::int64_t>(Q), static_cast<std::int64_t>(L)});
      auto loss = config_.task_weights[0] * -(tgt * torch::log_softmax(rel, 1)).sum(1).mean();
      // Logged feedback: one BCE per task head.
      if (has_logs) {
        std::vector<std::uint32_t> lq, lr;
        std::vector<float> lf, labels;
        for (int i = 0; i < o_.impressions_per_step; ++i) {
          const auto& ex = logged_[rng.below(logged_.size())];
          lq.push_back(ex.query);
          lr.push_back(ex.row);
          lf.insert(lf.end(), ex.feats, ex.feats + kF);
          for (std::size_t t = 1; t < tasks_.size(); ++t)
            labels.push_back(ex.label[std::find(kLogTasks, kLogTasks + 6, tasks_[t]) - kLogTasks]);
        }
        auto lo = forward(lq, lr, lf).slice(1, 1);
        auto y = torch::tensor(labels).reshape({o_.impressions_per_step, static_cast<std::int64_t>(tasks_.size() - 1)});
        auto per_task = torch::nn::functional::binary_cross_entropy_with_logits(
                            lo, y, torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
                            .mean(0);
        std::vector<float> w(config_.task_weights.begin() + 1, config_.task_weights.end());
        loss = loss + (per_task * torch::tensor(w)).sum();
      }
      optimizer_->zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(net_->parameters(), 1.0);
      optimizer_->step();
      total += loss.item<double>();
      if ((step + 1) % 25 == 0 || step + 1 == steps) {
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        const double per_step = secs / static_cast<double>(step + 1);
        log_("fit: epoch " + std::to_string(epoch) + " step " + std::to_string(step + 1) + "/" + std::to_string(steps) +
             " loss " + fmt("%.4f", total / static_cast<double>(step + 1)) + ", " +
             fmt("%.0f", static_cast<double>(Q * L + (has_logs ? o_.impressions_per_step : 0)) / per_step) +
             " pairs/s, eta " + fmt("%.0f", per_step * static_cast<double>(steps - step - 1)) + " s");
      }
    }
    return total / static_cast<double>(steps);
  }

  // Relevance logits of a list, in batches.
  std::vector<float> score_list(const QueryList& l) {
    std::vector<float> out;
    for (std::size_t s = 0; s < l.rows.size(); s += 256) {
      const std::size_t e = std::min(l.rows.size(), s + 256);
      std::vector<std::uint32_t> qs(e - s, l.query), rows(l.rows.begin() + static_cast<std::ptrdiff_t>(s),
                                                             l.rows.begin() + static_cast<std::ptrdiff_t>(e));
      std::vector<float> feats(l.feats.begin() + static_cast<std::ptrdiff_t>(s * kF),
                               l.feats.begin() + static_cast<std::ptrdiff_t>(e * kF));
      auto lo = forward(qs, rows, feats);
      auto sc = torch::zeros({static_cast<std::int64_t>(e - s)});
      for (std::size_t t = 0; t < config_.tasks.size(); ++t)
        if (config_.score_weights[t] != 0) sc = sc + config_.score_weights[t] * lo.select(1, static_cast<std::int64_t>(t));
      sc = sc.contiguous();
      out.insert(out.end(), sc.data_ptr<float>(), sc.data_ptr<float>() + sc.numel());
    }
    return out;
  }

  // The ranker on the dev lists: nDCG@10 of its order, and of ranker + w x
  // BM25 / the list's best BM25 for the best w on a grid (1000 orders by
  // BM25, the ranker breaking ties).
  RankEpochLog evaluate_dev() {
    RankEpochLog e;
    e.dev_ndcg = e.fused_ndcg = e.fusion_weight = std::nan("");
    if (dev_.empty()) return e;
    torch::NoGradGuard no_grad;
    net_->eval();
    std::vector<std::vector<float>> scores;
    for (const auto& l : dev_) scores.push_back(score_list(l));
    net_->train();
    auto ndcg = [&](double w) {
      double sum = 0;
      for (std::size_t i = 0; i < dev_.size(); ++i) {
        const auto& l = dev_[i];
        float top = 1e-6f;
        for (float b : l.bm25) top = std::max(top, b);
        std::vector<double> sc(l.rows.size());
        for (std::size_t k = 0; k < sc.size(); ++k) sc[k] = scores[i][k] + w * l.bm25[k] / top;
        std::vector<std::size_t> idx(sc.size());
        for (std::size_t k = 0; k < idx.size(); ++k) idx[k] = k;
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return sc[a] > sc[b]; });
        std::vector<std::string> ranked;
        for (auto k : idx) ranked.push_back(ds_.corpus.docs[l.rows[k]].id);
        sum += metrics::ndcg_at_k(ranked, dev_qrels_.at(dev_ids_[i]), 10);
      }
      return sum / static_cast<double>(dev_.size());
    };
    for (double w : rank_fusion_grid()) {
      const double v = ndcg(w);
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

  void save_model(double fusion_weight, int epoch) {
    fs::path tmp = dir_ / "model.pt.tmp";
    torch::save(net_, tmp.string());
    detail::fsync_path(tmp);
    fs::rename(tmp, dir_ / "model.pt");
    {
      detail::AtomicFile f(dir_ / "config.json");
      f.stream() << to_json(config_).dump(2) << '\n';
      f.commit();
    }
    serving_features_->save(dir_ / "features.bin");
    {
      detail::AtomicFile f(dir_ / "fusion.json");
      f.stream() << json{{"recall_weight", fusion_weight}, {"recall_channel", "bm25"}, {"epoch", epoch},
                         {"fitted", o_.fusion_weight ? o_.fusion_source : std::string("dev lists of this run")}}
                        .dump(2)
                 << '\n';
      f.commit();
    }
    detail::AtomicFile d(dir_ / "data.json");
    d.stream() << json{{"data", fs::absolute(data_).lexically_normal().string()}}.dump(2) << '\n';
    d.commit();
  }

  // The ranker's serving score on each training query's BM25 top
  // stored_depth (with its out-of-fold features, as in training), stored
  // once so that distilling it into the pre-ranker needs no ranker
  // inference: OUT/rank/train_scores.jsonl, a header line with the model id.
  std::size_t store_scores(const std::string& model_id) {
    if (o_.stored_depth == 0) return 0;
    torch::NoGradGuard no_grad;
    net_->eval();
    detail::AtomicFile f(dir_ / "train_scores.jsonl");
    f.stream() << json{{"model_id", model_id}, {"depth", o_.stored_depth}, {"score", "sum of score_weights x head logits"},
                       {"features", "out-of-fold click history"}}.dump()
               << '\n';
    std::size_t n = 0;
    for (const auto& full : lists_) {
      QueryList l;
      l.query = full.query;
      const std::size_t m = std::min(o_.stored_depth, full.rows.size());
      l.rows.assign(full.rows.begin(), full.rows.begin() + static_cast<std::ptrdiff_t>(m));
      l.feats.assign(full.feats.begin(), full.feats.begin() + static_cast<std::ptrdiff_t>(m * kF));
      auto sc = score_list(l);
      std::vector<std::string> ids;
      for (auto r : l.rows) ids.push_back(ds_.corpus.docs[r].id);
      f.stream() << json{{"query_id", ds_.queries[l.query].id}, {"docs", ids}, {"scores", sc}}.dump() << '\n';
      ++n;
    }
    f.commit();
    log_("fit: stored the ranker's scores of " + std::to_string(n) + " training queries' top " +
         std::to_string(o_.stored_depth) + " in " + (dir_ / "train_scores.jsonl").string());
    return n;
  }

  fs::path data_, out_, dir_;
  RankTrainOptions o_;
  std::function<void(const std::string&)> log_;
  Dataset ds_;
  std::unordered_map<std::string, std::uint32_t> query_index_;
  std::vector<std::uint32_t> train_queries_;
  std::unordered_map<std::uint32_t, std::unordered_map<std::uint32_t, float>> grades_;
  Qrels dev_qrels_;
  std::vector<Impression> impressions_;
  std::vector<LoggedExample> logged_;
  std::vector<std::string> tasks_;
  std::unique_ptr<rank::CrossFeatures> serving_features_, fold_features_[2];
  std::unique_ptr<RecallChannel> bm25_;
  std::vector<QueryList> lists_, dev_;
  std::vector<std::string> dev_ids_;
  double bm25_dev_ndcg_ = std::nan("");
  std::vector<float> mean_, std_;
  CrossRankerConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  RankDocTokens docs_;
  std::vector<std::vector<std::int64_t>> queries_;
  CrossRanker net_{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer_;
};

}  // namespace

const std::vector<double>& rank_fusion_grid() {
  static const std::vector<double> grid = {0, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 1000};
  return grid;
}

RankTrainResult train_rank(const fs::path& data, const fs::path& out, const RankTrainOptions& options,
                           const std::function<void(const std::string&)>& log) {
  struct ScratchCleanup {
    fs::path dir;
    ~ScratchCleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{out / "rank" / "bm25.tmp"};
  RankTrainer t(data, out, options, log ? log : [](const std::string&) {});
  return t.run();
}

}  // namespace funnel::train
