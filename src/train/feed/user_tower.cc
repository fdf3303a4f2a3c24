// The feed's user tower: attention over the user's recent engaged items
// (query = learned vector + projection of the id and feature embeddings, so
// the user vector does not depend on the target and is precomputed per
// user), then an MLP to the item space. Trained with a sampled softmax over
// in-batch positives plus shared uniform negatives, logQ-corrected, with
// optional KL distillation from the ranker's scores.
#include "train/feed/user_tower.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include <torch/torch.h>

#include "funnel/error.h"
#include "train/common/log.h"
#include "train/common/torch_threads.h"
#include "util/rng.h"

namespace funnel::train::feed {
namespace {

constexpr float kMasked = -1e9f;

std::int64_t i64(std::size_t x) { return static_cast<std::int64_t>(x); }

// The user's id bucket: a fixed hash of the index (splitmix64), so the
// bucket of a user does not depend on the seed or on the other users.
std::int64_t id_bucket(std::uint32_t user, std::size_t buckets) {
  std::uint64_t z = static_cast<std::uint64_t>(user) + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<std::int64_t>((z ^ (z >> 31)) % buckets);
}

void check_items(const std::vector<std::vector<std::uint32_t>>& lists, std::size_t bound, const char* field,
                 const char* bound_name) {
  for (std::size_t u = 0; u < lists.size(); ++u)
    for (auto x : lists[u])
      if (x >= bound)
        throw Error(std::string("user tower: ") + field + "[" + std::to_string(u) + "] holds " + std::to_string(x) +
                    ", expected < " + bound_name + " = " + std::to_string(bound));
}

void check_per_user(std::size_t size, std::size_t n_users, const char* field, bool optional) {
  if (size == n_users || (optional && size == 0)) return;
  throw Error(std::string("user tower: ") + field + " has " + std::to_string(size) + " entries, expected n_users = " +
              std::to_string(n_users) + (optional ? " or none" : ""));
}

void validate(const UserTowerData& d, const UserTowerOptions& o) {
  if (d.dim == 0) throw Error("user tower: dim is 0, expected the item vector dimension");
  if (d.n_items == 0) throw Error("user tower: n_items is 0");
  if (!d.item_vectors.empty() && d.item_vectors.size() != d.n_items * d.dim)
    throw Error("user tower: item_vectors has " + std::to_string(d.item_vectors.size()) +
                " floats, expected n_items x dim = " + std::to_string(d.n_items * d.dim) + " or none");
  check_per_user(d.history.size(), d.n_users, "history", false);
  check_per_user(d.user_features.size(), d.n_users, "user_features", true);
  check_per_user(d.dev_items.size(), d.n_users, "dev_items", true);
  check_per_user(d.teacher.size(), d.n_users, "teacher", true);
  for (const auto& h : d.encode_histories) {
    check_per_user(h.size(), d.n_users, "encode_histories[]", false);
    check_items(h, d.n_items, "encode_histories[]", "n_items");
  }
  check_items(d.history, d.n_items, "history", "n_items");
  check_items(d.dev_items, d.n_items, "dev_items", "n_items");
  check_items(d.user_features, d.n_user_features, "user_features", "n_user_features");
  for (std::size_t u = 0; u < d.teacher.size(); ++u)
    for (const auto& [item, logit] : d.teacher[u])
      if (item >= d.n_items || !std::isfinite(logit))
        throw Error("user tower: teacher[" + std::to_string(u) + "] holds (" + std::to_string(item) + ", " +
                    std::to_string(logit) + "), expected an item < n_items and a finite logit");
  if (!d.item_log_q.empty() && d.item_log_q.size() != d.n_items)
    throw Error("user tower: item_log_q has " + std::to_string(d.item_log_q.size()) +
                " entries, expected n_items = " + std::to_string(d.n_items) + " or none");
  if (o.history_len == 0) throw Error("user tower: option history_len is 0, expected >= 1");
  if (o.id_buckets == 0 || o.id_dim == 0 || o.feature_dim == 0 || o.attention_dim == 0 || o.hidden == 0)
    throw Error("user tower: options id_buckets, id_dim, feature_dim, attention_dim and hidden must be >= 1");
  if (o.batch < 2) throw Error("user tower: option batch is " + std::to_string(o.batch) + ", expected >= 2");
  if (o.epochs < 0) throw Error("user tower: option epochs is negative");
  if (!(o.temperature > 0)) throw Error("user tower: option temperature must be > 0");
  if (!(o.lr > 0)) throw Error("user tower: option lr must be > 0");
  if (o.dev_k == 0) throw Error("user tower: option dev_k is 0, expected >= 1");
  if (o.threads < 1) throw Error("user tower: option threads must be >= 1");
  if (o.distill_weight < 0) throw Error("user tower: option distill_weight is negative");
  if (o.distill_weight > 0 &&
      std::none_of(d.teacher.begin(), d.teacher.end(), [](const auto& t) { return !t.empty(); }))
    throw Error("user tower: option distill_weight is > 0 but UserTowerData::teacher has no list");
}

// One OpenBLAS thread while the tower trains, the caller's count restored
// after. The tower's products are small, and OpenBLAS's spinning workers
// and libtorch's intra-op threads then fight over the same cores: on 2
// cores, threads = 2 ran an epoch several times slower than threads = 1.
class OneBlasThread {
 public:
  OneBlasThread() : before_(openblas_get_num_threads()) { openblas_set_num_threads(1); }
  ~OneBlasThread() { openblas_set_num_threads(before_); }
  OneBlasThread(const OneBlasThread&) = delete;
  OneBlasThread& operator=(const OneBlasThread&) = delete;

 private:
  int before_;
};

// The items a step reads, each as one row of the step's own table (one
// sparse gradient row per item, not one per read for LazyAdam to sum),
// plus a last zero row that padding reads (no gradient for item 0).
class StepItems {
 public:
  explicit StepItems(std::vector<std::int64_t> items) : ids_(std::move(items)) {
    std::sort(ids_.begin(), ids_.end());
    ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
  }
  std::int64_t slot(std::int64_t item) const {
    return std::lower_bound(ids_.begin(), ids_.end(), item) - ids_.begin();
  }
  std::int64_t pad() const { return i64(ids_.size()); }
  const std::vector<std::int64_t>& ids() const { return ids_; }

 private:
  std::vector<std::int64_t> ids_;
};

// The items a user's state reads: the last history_len before `end`.
std::pair<std::size_t, std::size_t> window(const UserTowerOptions& o, std::size_t end) {
  return {end - std::min(end, o.history_len), end};
}

// Inputs of a batch of user states, each one's window (above), most recent
// first. `items` index the item table, or the step's table with `step`;
// padding is masked (item 0, or the step table's zero row).
struct States {
  torch::Tensor items;    // [B, L] long
  torch::Tensor mask;     // [B, L] bool, true = a real item
  torch::Tensor bucket;   // [B] long, id bucket
  torch::Tensor feats;    // [F] long, all rows' feature ids
  torch::Tensor offsets;  // [B] long, each row's first entry in feats
};

States make_states(const UserTowerData& d, const UserTowerOptions& o, const std::vector<std::uint32_t>& users,
                   const std::vector<std::size_t>& ends, const StepItems* step = nullptr) {
  const std::size_t B = users.size();
  std::size_t L = 1;  // one masked slot for rows without history
  for (std::size_t b = 0; b < B; ++b) L = std::max(L, std::min(ends[b], o.history_len));
  std::vector<std::int64_t> items(B * L, step ? step->pad() : 0), bucket(B), offsets(B), feats;
  std::vector<std::int64_t> mask(B * L, 0);
  for (std::size_t b = 0; b < B; ++b) {
    const auto& h = d.history[users[b]];
    const auto [first, end] = window(o, ends[b]);
    for (std::size_t j = 0; j < end - first; ++j) {
      const std::int64_t item = h[end - 1 - j];
      items[b * L + j] = step ? step->slot(item) : item;
      mask[b * L + j] = 1;
    }
    bucket[b] = id_bucket(users[b], o.id_buckets);
    offsets[b] = static_cast<std::int64_t>(feats.size());
    if (!d.user_features.empty())
      for (auto f : d.user_features[users[b]]) feats.push_back(f);
  }
  States s;
  s.items = torch::tensor(items, torch::kLong).reshape({i64(B), i64(L)});
  s.mask = torch::tensor(mask, torch::kLong).reshape({i64(B), i64(L)}).to(torch::kBool);
  s.bucket = torch::tensor(bucket, torch::kLong);
  s.feats = torch::tensor(feats, torch::kLong);
  s.offsets = torch::tensor(offsets, torch::kLong);
  return s;
}

// Every item the states of `users` read, for a StepItems.
void add_window_items(const UserTowerData& d, const UserTowerOptions& o, const std::vector<std::uint32_t>& users,
                      const std::vector<std::size_t>& ends, std::vector<std::int64_t>& out) {
  for (std::size_t b = 0; b < users.size(); ++b) {
    const auto [first, end] = window(o, ends[b]);
    out.insert(out.end(), d.history[users[b]].begin() + static_cast<std::ptrdiff_t>(first),
               d.history[users[b]].begin() + static_cast<std::ptrdiff_t>(end));
  }
}

struct TowerNetImpl : torch::nn::Module {
  TowerNetImpl(const UserTowerData& d, const UserTowerOptions& o) : dim_(i64(d.dim)), att_(i64(o.attention_dim)) {
    if (!d.item_vectors.empty()) {
      frozen_ = torch::from_blob(const_cast<float*>(d.item_vectors.data()), {i64(d.n_items), dim_}, torch::kFloat)
                    .clone();
    } else {
      // Small vectors: with raw dot products over a temperature of 0.05,
      // unit-scale rows would start the softmax saturated.
      table_ = register_parameter(
          "item_table", torch::randn({i64(d.n_items), dim_}) * (0.1 / std::sqrt(static_cast<double>(d.dim))));
    }
    // Near zero: a user without training examples (whose bucket never gets a
    // gradient) is then served from history and features alone.
    id_ = register_parameter("user_id", torch::randn({i64(o.id_buckets), i64(o.id_dim)}) * 0.01);
    side_ = i64(o.id_dim);
    if (d.n_user_features > 0) {
      feat_ = register_module("user_features",
                              torch::nn::EmbeddingBag(torch::nn::EmbeddingBagOptions(i64(d.n_user_features),
                                                                                     i64(o.feature_dim))
                                                          .mode(torch::kMean)));
      torch::nn::init::normal_(feat_->weight, 0.0, 0.1);
      side_ += i64(o.feature_dim);
    }
    query_base_ = register_parameter("query_base", torch::zeros({att_}));
    query_ = register_module("query", torch::nn::Linear(side_, att_));
    // Linear's default init (uniform, bound 1/sqrt(fan_in)).
    key_ = register_parameter("key", (torch::rand({att_, dim_}) * 2 - 1) / std::sqrt(static_cast<double>(dim_)));
    // Recency: slot 0 is the most recent item.
    position_ = register_parameter("position", torch::randn({i64(o.history_len), att_}) * 0.1);
    fc1_ = register_module("fc1", torch::nn::Linear(dim_ + side_, i64(o.hidden)));
    fc2_ = register_module("fc2", torch::nn::Linear(i64(o.hidden), dim_));
  }

  // [n_items, dim]: the frozen vectors or the learned table.
  torch::Tensor items() const { return frozen_.defined() ? frozen_ : table_; }

  // [n, dim]: the vectors of `idx` ([n] long). The learned table's gradient
  // is sparse (the rows read), for LazyAdam.
  torch::Tensor item_rows(const torch::Tensor& idx) const {
    return frozen_.defined() ? frozen_.index_select(0, idx) : torch::embedding(table_, idx, -1, false, true);
  }

  // The id table and the learned item table, updated row-wise (LazyAdam);
  // every other parameter is dense.
  std::vector<torch::Tensor> sparse_parameters() const {
    std::vector<torch::Tensor> out{id_};
    if (table_.defined()) out.push_back(table_);
    return out;
  }
  std::vector<torch::Tensor> dense_parameters() const {
    std::vector<torch::Tensor> out;
    for (const auto& p : parameters())
      if (!p.is_same(id_) && !(table_.defined() && p.is_same(table_))) out.push_back(p);
    return out;
  }

  // The step's table of StepItems: [items + 1, dim], the last row zeros.
  torch::Tensor step_rows(const StepItems& step) const {
    return torch::cat({item_rows(torch::tensor(step.ids(), torch::kLong)), torch::zeros({1, dim_})});
  }

  // [B, dim] user vectors; s.items index `table` (the item table, or the
  // step's table of make_states' `step`).
  torch::Tensor forward(const States& s, const torch::Tensor& table) {
    const auto B = s.items.size(0), L = s.items.size(1);
    auto hv = table.index_select(0, s.items.reshape({-1})).reshape({B, L, dim_});
    auto side = torch::embedding(id_, s.bucket, -1, false, true);
    if (feat_) side = torch::cat({side, feat_(s.feats, s.offsets)}, 1);
    auto q = query_base_ + query_(side);  // [B, A]
    // The attention logit of slot j is q . (W_k hv_j + position_j), computed
    // as hv_j . (W_k^T q) + q . position_j: the keys are never formed, which
    // saves the B x L x dim x A product that dominated a step. Products with
    // one vector per row are mul + sum: libtorch's CPU bmm dispatches one
    // small product per row and was slower still.
    auto content = (hv * q.mm(key_).unsqueeze(1)).sum(2);  // [B, L]
    auto recency = q.mm(position_.slice(0, 0, L).t());      // [B, L]
    auto logits = (content + recency) / std::sqrt(static_cast<double>(att_));
    // An all-padding row gets a uniform softmax over padding, zeroed by the
    // mask: an empty history pools to the zero vector.
    auto w = torch::softmax(logits.masked_fill(s.mask.logical_not(), kMasked), 1) * s.mask.to(torch::kFloat);
    auto pooled = (w.unsqueeze(2) * hv).sum(1);  // [B, dim]
    return fc2_(torch::relu(fc1_(torch::cat({pooled, side}, 1))));
  }

  std::int64_t dim_, att_, side_ = 0;
  torch::Tensor frozen_, table_, id_, key_, position_, query_base_;
  torch::nn::EmbeddingBag feat_{nullptr};
  torch::nn::Linear query_{nullptr}, fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(TowerNet);

// Adam on the rows of an embedding table that a step read, the others left
// alone, moments included (LazyAdam, as in TensorFlow Addons): a dense Adam
// step over a 50000-bucket id table costs more than the rest of the step.
class LazyAdam {
 public:
  LazyAdam(std::vector<torch::Tensor> tables, double lr) : tables_(std::move(tables)), lr_(lr) {
    for (const auto& t : tables_) {
      m_.push_back(torch::zeros_like(t));
      v_.push_back(torch::zeros_like(t));
    }
  }
  void zero_grad() {
    for (auto& t : tables_) t.mutable_grad() = torch::Tensor();
  }
  void step() {
    torch::NoGradGuard no_grad;
    ++step_;
    const double bc1 = 1 - std::pow(kBeta1, static_cast<double>(step_));
    const double bc2 = 1 - std::pow(kBeta2, static_cast<double>(step_));
    for (std::size_t i = 0; i < tables_.size(); ++i) {
      if (!tables_[i].grad().defined()) continue;
      auto g = tables_[i].grad().coalesce();  // sums a row read twice
      auto rows = g.indices()[0];
      auto gv = g.values();
      auto m = m_[i].index_select(0, rows).mul_(kBeta1).add_(gv, 1 - kBeta1);
      auto v = v_[i].index_select(0, rows).mul_(kBeta2).addcmul_(gv, gv, 1 - kBeta2);
      m_[i].index_copy_(0, rows, m);
      v_[i].index_copy_(0, rows, v);
      tables_[i].index_add_(0, rows, (m / bc1) / ((v / bc2).sqrt() + kEps), -lr_);
    }
  }

 private:
  static constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;  // torch::optim::Adam's defaults
  std::vector<torch::Tensor> tables_, m_, v_;
  double lr_;
  std::int64_t step_ = 0;
};

// Every user's vector from their whole list in d.history (the training
// history, or one of encode_histories): [n_users, dim].
torch::Tensor all_user_vectors(TowerNet& net, const UserTowerData& d, const UserTowerOptions& o) {
  torch::NoGradGuard no_grad;
  net->eval();
  std::vector<torch::Tensor> parts;
  for (std::size_t s = 0; s < d.n_users; s += 1024) {
    std::vector<std::uint32_t> users;
    std::vector<std::size_t> ends;
    for (std::size_t u = s; u < std::min(d.n_users, s + 1024); ++u) {
      users.push_back(static_cast<std::uint32_t>(u));
      ends.push_back(d.history[u].size());
    }
    parts.push_back(net->forward(make_states(d, o, users, ends), net->items()));
  }
  net->train();
  return parts.empty() ? torch::zeros({0, i64(d.dim)}) : torch::cat(parts);
}

// dev_recall_at's figure with libtorch matrix products: the same users,
// targets and exclusions (ties between equal scores may fall differently).
double torch_dev_recall(const detail::DevTargets& dev, const UserTowerData& d, const torch::Tensor& users,
                        const torch::Tensor& items, std::size_t k) {
  if (dev.users.empty()) return std::nan("");
  torch::NoGradGuard no_grad;
  const auto kk = i64(std::min(k, d.n_items));
  constexpr std::size_t kBlock = 256;
  // One score buffer for all blocks: a fresh 50 MB product per block costs
  // more in page faults than the product itself.
  auto buffer = torch::empty({i64(std::min(kBlock, dev.users.size())), items.size(0)});
  double sum = 0;
  for (std::size_t s = 0; s < dev.users.size(); s += kBlock) {
    const std::size_t e = std::min(dev.users.size(), s + kBlock);
    std::vector<std::int64_t> rows(dev.users.begin() + static_cast<std::ptrdiff_t>(s),
                                   dev.users.begin() + static_cast<std::ptrdiff_t>(e));
    auto scores = buffer.slice(0, 0, i64(e - s));
    at::mm_out(scores, users.index_select(0, torch::tensor(rows, torch::kLong)), items.t());
    std::vector<std::int64_t> ex_row, ex_item;
    for (std::size_t i = s; i < e; ++i)
      for (auto it : d.history[dev.users[i]]) {
        ex_row.push_back(i64(i - s));
        ex_item.push_back(it);
      }
    if (!ex_row.empty())
      scores.index_put_({torch::tensor(ex_row, torch::kLong), torch::tensor(ex_item, torch::kLong)},
                        -std::numeric_limits<float>::infinity());
    auto top = std::get<1>(scores.topk(kk, 1)).contiguous();
    const auto* p = top.data_ptr<std::int64_t>();
    std::vector<std::uint32_t> list(static_cast<std::size_t>(kk));
    for (std::size_t i = s; i < e; ++i) {
      for (std::int64_t j = 0; j < kk; ++j) list[static_cast<std::size_t>(j)] = static_cast<std::uint32_t>(p[i64(i - s) * kk + j]);
      sum += detail::recall_of_top(list, dev.targets[i], k);
    }
  }
  return sum / static_cast<double>(dev.users.size());
}

std::vector<float> to_vector(const torch::Tensor& t) {
  auto c = t.detach().contiguous().to(torch::kFloat);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Per item: log of its expected count among a batch's columns (`batch`
// in-batch positives drawn with the items' shares q, `random` uniform
// draws), the sampled-softmax correction; an item that is never a positive
// has only the uniform term (or a floor without random negatives).
torch::Tensor column_log_counts(const UserTowerData& d, std::size_t batch, std::size_t random) {
  std::vector<double> q(d.n_items, 0.0);
  if (!d.item_log_q.empty()) {
    for (std::size_t i = 0; i < d.n_items; ++i) q[i] = std::exp(static_cast<double>(d.item_log_q[i]));
  } else {
    double total = 0;
    for (const auto& h : d.history)
      for (std::size_t p = 1; p < h.size(); ++p) {
        q[h[p]] += 1;
        total += 1;
      }
    if (total > 0)
      for (auto& x : q) x /= total;
  }
  std::vector<float> out(d.n_items);
  const double uniform = static_cast<double>(random) / static_cast<double>(d.n_items);
  for (std::size_t i = 0; i < d.n_items; ++i)
    out[i] = static_cast<float>(std::log(std::max(static_cast<double>(batch) * q[i] + uniform, 1e-30)));
  return torch::tensor(out, torch::kFloat);
}

// KL(teacher || student) over each user's teacher list, averaged over
// `users` (each with a non-empty list). The student's logits are the
// full-history user vector's dot products over the temperature; the
// teacher's are taken as given.
torch::Tensor distill_loss(TowerNet& net, const UserTowerData& d, const UserTowerOptions& o,
                           const std::vector<std::uint32_t>& users) {
  std::vector<std::size_t> ends;
  std::size_t M = 0;
  for (auto u : users) {
    ends.push_back(d.history[u].size());
    M = std::max(M, d.teacher[u].size());
  }
  const std::size_t U = users.size();
  std::vector<std::int64_t> read;
  add_window_items(d, o, users, ends, read);
  for (auto u : users)
    for (const auto& [item, logit] : d.teacher[u]) read.push_back(item);
  const StepItems step(std::move(read));
  std::vector<std::int64_t> items(U * M, step.pad()), valid(U * M, 0);
  std::vector<float> teacher(U * M, 0.0f);
  for (std::size_t r = 0; r < U; ++r)
    for (std::size_t j = 0; j < d.teacher[users[r]].size(); ++j) {
      items[r * M + j] = step.slot(d.teacher[users[r]][j].first);
      teacher[r * M + j] = d.teacher[users[r]][j].second;
      valid[r * M + j] = 1;
    }
  const auto table = net->step_rows(step);
  auto u = net->forward(make_states(d, o, users, ends, &step), table);  // [U, dim]
  auto v = table.index_select(0, torch::tensor(items, torch::kLong)).reshape({i64(U), i64(M), -1});
  auto mask = torch::tensor(valid, torch::kLong).reshape({i64(U), i64(M)}).to(torch::kBool);
  auto student = (v * u.unsqueeze(1)).sum(2) / o.temperature;
  auto t = torch::tensor(teacher, torch::kFloat).reshape({i64(U), i64(M)});
  auto log_ps = torch::log_softmax(student.masked_fill(mask.logical_not(), kMasked), 1);
  auto log_pt = torch::log_softmax(t.masked_fill(mask.logical_not(), kMasked), 1);
  auto kl = (log_pt.exp() * (log_pt - log_ps)).masked_fill(mask.logical_not(), 0.0).sum(1);
  return kl.mean();
}

}  // namespace

namespace detail {

DevTargets dev_targets(const UserTowerData& data, std::size_t max_users) {
  DevTargets all;
  for (std::size_t u = 0; u < data.dev_items.size() && u < data.history.size(); ++u) {
    if (data.dev_items[u].empty()) continue;
    std::vector<std::uint32_t> dev = data.dev_items[u], seen = data.history[u];
    std::sort(dev.begin(), dev.end());
    dev.erase(std::unique(dev.begin(), dev.end()), dev.end());
    std::sort(seen.begin(), seen.end());
    std::vector<std::uint32_t> targets;
    std::set_difference(dev.begin(), dev.end(), seen.begin(), seen.end(), std::back_inserter(targets));
    if (targets.empty()) continue;
    all.users.push_back(static_cast<std::uint32_t>(u));
    all.targets.push_back(std::move(targets));
  }
  if (max_users == 0 || all.users.size() <= max_users) return all;
  DevTargets out;
  const std::size_t stride = (all.users.size() + max_users - 1) / max_users;
  for (std::size_t i = 0; i < all.users.size(); i += stride) {
    out.users.push_back(all.users[i]);
    out.targets.push_back(std::move(all.targets[i]));
  }
  return out;
}

double recall_of_top(const std::vector<std::uint32_t>& top, const std::vector<std::uint32_t>& sorted_targets,
                     std::size_t k) {
  if (sorted_targets.empty() || k == 0) return 0;
  std::size_t hits = 0;
  for (std::size_t i = 0; i < std::min(k, top.size()); ++i)
    hits += std::binary_search(sorted_targets.begin(), sorted_targets.end(), top[i]) ? 1 : 0;
  return static_cast<double>(hits) / static_cast<double>(std::min(k, sorted_targets.size()));
}

}  // namespace detail

double dev_recall_at(const UserTowerData& data, const std::vector<float>& user_vectors,
                     const std::vector<float>& item_vectors, std::size_t k, std::size_t max_users) {
  const std::size_t dim = data.dim, n = data.n_items;
  if (data.history.size() != data.n_users)
    throw Error("dev_recall_at: history has " + std::to_string(data.history.size()) + " entries, expected n_users");
  if (user_vectors.size() != data.n_users * dim)
    throw Error("dev_recall_at: user_vectors has " + std::to_string(user_vectors.size()) +
                " floats, expected n_users x dim = " + std::to_string(data.n_users * dim));
  if (item_vectors.size() != n * dim)
    throw Error("dev_recall_at: item_vectors has " + std::to_string(item_vectors.size()) +
                " floats, expected n_items x dim = " + std::to_string(n * dim));
  const detail::DevTargets dev = detail::dev_targets(data, max_users);
  if (dev.users.empty() || k == 0) return std::nan("");
  // Items transposed into dim rows, padded to whole tiles, so that the
  // inner loop is an axpy over a tile's items: it vectorizes without
  // -ffast-math (a dot-product reduction does not), and a tile of scores
  // and of item columns stays in cache across a block of users.
  constexpr std::size_t kTile = 512, kUsers = 16;
  const std::size_t padded = (n + kTile - 1) / kTile * kTile;
  std::vector<float> items_t(dim * padded, 0.0f);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t c = 0; c < dim; ++c) items_t[c * padded + i] = item_vectors[i * dim + c];
  std::vector<float> scores(kUsers * padded);
  std::vector<std::uint32_t> order(n), top;
  double sum = 0;
  for (std::size_t s = 0; s < dev.users.size(); s += kUsers) {
    const std::size_t nb = std::min(kUsers, dev.users.size() - s);
    std::fill(scores.begin(), scores.end(), 0.0f);
    for (std::size_t t0 = 0; t0 < padded; t0 += kTile)
      for (std::size_t c = 0; c < dim; ++c) {
        const float* __restrict col = items_t.data() + c * padded + t0;
        for (std::size_t b = 0; b < nb; ++b) {
          const float a = user_vectors[static_cast<std::size_t>(dev.users[s + b]) * dim + c];
          float* __restrict row = scores.data() + b * padded + t0;
          for (std::size_t i = 0; i < kTile; ++i) row[i] += a * col[i];
        }
      }
    for (std::size_t b = 0; b < nb; ++b) {
      float* row = scores.data() + b * padded;
      // NaN would break the strict weak order below; rank it last.
      for (std::size_t i = 0; i < n; ++i)
        if (std::isnan(row[i])) row[i] = -std::numeric_limits<float>::infinity();
      for (auto it : data.history[dev.users[s + b]]) row[it] = -std::numeric_limits<float>::infinity();
      for (std::uint32_t i = 0; i < n; ++i) order[i] = i;
      const std::size_t kk = std::min(k, n);
      const auto better = [row](std::uint32_t x, std::uint32_t y) { return row[x] > row[y] || (row[x] == row[y] && x < y); };
      std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(kk - 1), order.end(), better);
      top.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(kk));
      sum += detail::recall_of_top(top, dev.targets[s + b], k);
    }
  }
  return sum / static_cast<double>(dev.users.size());
}

UserTowerResult train_user_tower(const UserTowerData& data, const UserTowerOptions& options, const LogFn& log_fn) {
  const UserTowerData& d = data;
  const UserTowerOptions& o = options;
  const LogFn log = log_fn ? log_fn : LogFn([](const std::string&) {});
  validate(d, o);
  init_torch_threads(o.threads);
  const OneBlasThread one_blas_thread;
  torch::manual_seed(o.seed);

  // One example per engaged item but each user's first: the state before
  // it (earlier items only) and the item as the positive.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> examples;  // (user, position)
  for (std::uint32_t u = 0; u < d.n_users; ++u)
    for (std::uint32_t p = 1; p < d.history[u].size(); ++p) examples.emplace_back(u, p);
  if (examples.empty() && o.epochs > 0)
    throw Error("user tower: no training example (every history has fewer than 2 items)");

  TowerNet net(d, o);
  torch::optim::Adam optimizer(net->dense_parameters(), torch::optim::AdamOptions(o.lr));
  LazyAdam lazy(net->sparse_parameters(), o.lr);
  const detail::DevTargets dev = detail::dev_targets(d, o.dev_users);
  std::int64_t params = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  log("feed: user tower: " + std::to_string(examples.size()) + " examples from " + std::to_string(d.n_users) +
      " users, " + std::to_string(d.n_items) + " items (" + (d.item_vectors.empty() ? "learned" : "frozen") +
      " vectors of " + std::to_string(d.dim) + "), " + std::to_string(params) + " parameters, " +
      std::to_string(dev.users.size()) + " dev users");

  UserTowerResult res;
  const auto evaluate = [&](torch::Tensor& users) {
    users = all_user_vectors(net, d, o);
    torch::NoGradGuard no_grad;
    return torch_dev_recall(dev, d, users, net->items().detach(), o.dev_k);
  };
  // The vectors of the kept epoch (the untrained tower until one beats it):
  // serving's user and item vectors, and encode_histories' users.
  const auto keep_vectors = [&](const torch::Tensor& users) {
    res.user_vectors = to_vector(users);
    res.item_vectors = d.item_vectors.empty() ? to_vector(net->items()) : d.item_vectors;
    res.encoded.clear();
    for (const auto& h : d.encode_histories) {
      UserTowerData later;  // what all_user_vectors reads, item vectors aside
      later.n_users = d.n_users;
      later.dim = d.dim;
      later.history = h;
      later.user_features = d.user_features;
      later.n_user_features = d.n_user_features;
      res.encoded.push_back(to_vector(all_user_vectors(net, later, o)));
    }
  };
  torch::Tensor users;
  res.dev_recall_untrained = evaluate(users);
  double best = res.dev_recall_untrained;
  keep_vectors(users);
  const std::string k_name = "Recall@" + std::to_string(o.dev_k);
  if (!dev.users.empty()) log("feed: user tower untrained, dev " + k_name + " " + fmt("%.4f", best));

  const std::vector<bool> has_teacher = [&] {
    std::vector<bool> t(d.n_users, false);
    for (std::size_t u = 0; u < d.teacher.size(); ++u) t[u] = !d.teacher[u].empty();
    return t;
  }();
  const torch::Tensor log_counts_full = o.logq_correction ? column_log_counts(d, o.batch, o.random_negatives) : torch::Tensor();
  const std::size_t steps = (examples.size() + o.batch - 1) / o.batch;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    // Shuffling and negatives of an epoch derive from (seed, epoch).
    funnel::detail::Rng rng(o.seed * 1000003ull + static_cast<std::uint64_t>(epoch));
    for (std::size_t i = examples.size(); i > 1; --i) std::swap(examples[i - 1], examples[rng.below(i)]);
    double total = 0;
    for (std::size_t step = 0; step < steps; ++step) {
      const std::size_t s = step * o.batch, B = std::min(o.batch, examples.size() - s);
      std::vector<std::uint32_t> rows;
      std::vector<std::size_t> ends;
      std::vector<std::int64_t> cols;
      for (std::size_t b = 0; b < B; ++b) {
        const auto [u, p] = examples[s + b];
        rows.push_back(u);
        ends.push_back(p);
        cols.push_back(d.history[u][p]);
      }
      for (std::size_t r = 0; r < o.random_negatives; ++r) cols.push_back(static_cast<std::int64_t>(rng.below(d.n_items)));
      const auto C = i64(cols.size());
      auto col_items = torch::tensor(cols, torch::kLong);
      std::vector<std::int64_t> read = cols;
      add_window_items(d, o, rows, ends, read);
      const StepItems step_items(std::move(read));
      std::vector<std::int64_t> col_slots(cols.size());
      for (std::size_t c = 0; c < cols.size(); ++c) col_slots[c] = step_items.slot(cols[c]);
      const auto table = net->step_rows(step_items);
      auto u = net->forward(make_states(d, o, rows, ends, &step_items), table);  // [B, dim]
      auto logits = u.mm(table.index_select(0, torch::tensor(col_slots, torch::kLong)).t()) / o.temperature;  // [B, C]
      if (o.logq_correction) {
        // The last batch may be short: its in-batch term scales with B.
        auto corr = B == o.batch ? log_counts_full.index_select(0, col_items)
                                 : column_log_counts(d, B, o.random_negatives).index_select(0, col_items);
        logits = logits - corr.unsqueeze(0);
      }
      // No negative is a column showing the row's own positive, nor the
      // positive of another example of the same user (an item the user
      // engaged with, before or after this one).
      auto positives = col_items.slice(0, 0, i64(B));
      auto same = col_items.unsqueeze(0) == positives.unsqueeze(1);
      auto row_users = torch::tensor(std::vector<std::int64_t>(rows.begin(), rows.end()), torch::kLong);
      auto same_user = torch::cat({row_users.unsqueeze(0) == row_users.unsqueeze(1),
                                   torch::zeros({i64(B), C - i64(B)}, torch::kBool)}, 1);
      auto own = torch::arange(C).unsqueeze(0) == torch::arange(i64(B)).unsqueeze(1);
      logits = logits.masked_fill(same.logical_or(same_user).logical_and(own.logical_not()), kMasked);
      auto loss = torch::nn::functional::cross_entropy(logits, torch::arange(i64(B)));
      if (o.distill_weight > 0) {
        std::vector<std::uint32_t> teach;
        for (auto r : rows)
          if (has_teacher[r]) teach.push_back(r);
        std::sort(teach.begin(), teach.end());
        teach.erase(std::unique(teach.begin(), teach.end()), teach.end());
        if (!teach.empty()) loss = loss + o.distill_weight * distill_loss(net, d, o, teach);
      }
      optimizer.zero_grad();
      lazy.zero_grad();
      loss.backward();
      optimizer.step();
      lazy.step();
      total += loss.item<double>();
    }
    const double mean_loss = steps > 0 ? total / static_cast<double>(steps) : std::nan("");
    res.epoch_loss.push_back(mean_loss);
    const double recall = evaluate(users);
    res.epoch_dev_recall.push_back(recall);
    const bool keep = dev.users.empty() || recall > best;
    if (keep) {
      best = recall;
      res.best_epoch = epoch;
      keep_vectors(users);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log("feed: user tower epoch " + std::to_string(epoch) + " loss " + fmt("%.4f", mean_loss) +
        (dev.users.empty() ? std::string() : ", dev " + k_name + " " + fmt("%.4f", recall) + (keep ? " (best)" : "")) +
        ", " + fmt("%.1f", secs) + " s");
  }
  res.dev_recall_trained = dev.users.empty() ? std::nan("") : best;
  if (dev.users.empty()) res.dev_recall_untrained = std::nan("");
  return res;
}

}  // namespace funnel::train::feed
