// The user tower of a recommendation feed: a user vector from the user's
// recent engaged items, a hashed id embedding and declared features, trained
// so that its dot product with an item's vector ranks the user's next
// engaged item high (the feed's user_ann recall channel, docs/feeds.md).
// Torch-free header: train_user_tower is implemented with libtorch in
// user_tower.cc; dev_recall_at is plain C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "funnel/train.h"

namespace funnel::train::feed {

// What the tower learns from. Indices are dense: users 0..n_users-1, items
// 0..n_items-1. Per-user arrays have n_users entries, or none where marked
// optional. train_user_tower throws funnel::Error naming the field when a
// size or an index is out of range.
struct UserTowerData {
  std::size_t n_users = 0, n_items = 0;
  std::size_t dim = 0;  // item (and user) vector dimension
  // n_items x dim, row-major, frozen: e.g. the search two-tower's stored doc
  // vectors. EMPTY: the tower learns an item id embedding table of `dim`
  // (corpora without text).
  std::vector<float> item_vectors;
  // Per user: engaged items of the TRAINING part, oldest first.
  std::vector<std::vector<std::uint32_t>> history;
  // Per user (optional): small feature ids in [0, n_user_features), e.g.
  // declared interests; a list may be empty.
  std::vector<std::vector<std::uint32_t>> user_features;
  std::size_t n_user_features = 0;
  // Per item (optional): log of its share of the training positives, the
  // in-batch sampling probability of the logQ correction. Empty: computed
  // from `history` (every engaged item but each user's first).
  std::vector<float> item_log_q;
  // Per user (optional): items engaged in the DEV part, for the dev figure
  // and the choice of the best epoch; an empty list = no dev for that user.
  std::vector<std::vector<std::uint32_t>> dev_items;
  // Per user (optional): distillation from the ranker, (item, teacher logit)
  // over candidates of that user; an empty list = none for that user.
  std::vector<std::vector<std::pair<std::uint32_t, float>>> teacher;
  // Optional: further per-user histories (each n_users lists, oldest first)
  // to encode with the kept epoch's tower, never trained on: the vectors as
  // of later log parts (UserTowerResult::encoded, in this order).
  std::vector<std::vector<std::vector<std::uint32_t>>> encode_histories;
};

struct UserTowerOptions {
  // Attention reads the user's last `history_len` engaged items (older ones
  // are dropped). Matches FeedOptions::history (funnel/feed.h).
  std::size_t history_len = 50;
  // Hashed user id embedding: buckets of hash(user index), and its width.
  std::size_t id_buckets = 50000;
  std::size_t id_dim = 32;
  // Width of the mean of the user-feature embeddings.
  std::size_t feature_dim = 32;
  // Width of the attention's keys and query.
  std::size_t attention_dim = 64;
  // Hidden width of the two-layer MLP that maps the pooled inputs to `dim`.
  std::size_t hidden = 256;
  int epochs = 4;
  std::size_t batch = 256;  // training examples per step
  double lr = 3e-3;         // Adam
  // Scores are dot(u, v) / temperature in the softmax; serving ranks by the
  // plain dot product.
  double temperature = 0.05;
  // Items drawn uniformly per batch and shared by all rows, added to the
  // in-batch negatives (mixed negative sampling, Yang et al. 2020, "Mixed
  // Negative Sampling for Learning Two-tower Neural Networks in
  // Recommendations", WWW companion).
  std::size_t random_negatives = 256;
  // Sampled-softmax correction: every logit minus the log of its item's
  // expected count among the batch's columns, log(batch * q_item +
  // random_negatives / n_items); without random negatives that is the logQ
  // correction of Yi et al. 2019, "Sampling-bias-corrected neural modeling
  // for large corpus item recommendations" (RecSys), up to a constant.
  bool logq_correction = true;
  // Weight of KL(teacher || student) over each batch user's teacher list
  // (student = the user's full-history vector). 0 = off; > 0 needs
  // UserTowerData::teacher.
  double distill_weight = 0.0;
  // Dev recall is measured on at most this many users with dev items,
  // evenly spaced by index (0 = all of them).
  std::size_t dev_users = 2000;
  std::size_t dev_k = 100;  // Recall@dev_k
  // Seeds parameter init (torch::manual_seed), shuffling and negatives.
  // Same seed, same data and threads = 1: the same result.
  std::uint64_t seed = 1;
  // libtorch intra-op threads (process-wide, init_torch_threads). The ops
  // are small: 2 gains little, and on a busy machine far less than nothing.
  // OpenBLAS runs one thread while the tower trains.
  int threads = 1;
};

struct UserTowerResult {
  // n_users x dim, row-major: each user's vector from their FULL training
  // history (what serving stores), from the best epoch.
  std::vector<float> user_vectors;
  // n_items x dim, row-major: the learned table when data.item_vectors was
  // empty (best epoch), else a copy of the given vectors.
  std::vector<float> item_vectors;
  // Recall@dev_k (dev_recall_at with max_users = dev_users) before training
  // and at the kept epoch; NaN without dev items.
  double dev_recall_untrained = 0, dev_recall_trained = 0;
  std::vector<double> epoch_loss;        // mean training loss per epoch
  std::vector<double> epoch_dev_recall;  // dev recall after each epoch (NaN without dev)
  int best_epoch = 0;  // 1-based epoch whose vectors were kept (the last without dev)
  // Per entry of UserTowerData::encode_histories: n_users x dim.
  std::vector<std::vector<float>> encoded;
};

// Trains the tower. With dev items the epoch of best dev recall is kept,
// else the last. `log` gets a line per epoch (loss, dev recall, seconds).
// Throws funnel::Error on bad data or options.
UserTowerResult train_user_tower(const UserTowerData& data, const UserTowerOptions& options, const LogFn& log = {});

// Recall@k of dev items by exact dot product of user_vectors (n_users x dim)
// with item_vectors (n_items x dim): for each user with dev items, the items
// of their training history are never ranked, the dev targets are their
// distinct dev items not in that history (users left with none are
// skipped), and the user's recall is hits in the top k / min(k, targets),
// ties broken by lower item index. Averaged over users; at most `max_users`
// of them, evenly spaced by index (0 = all). NaN when no user counts.
// Torch-free; throws funnel::Error on mismatched sizes.
double dev_recall_at(const UserTowerData& data, const std::vector<float>& user_vectors,
                     const std::vector<float>& item_vectors, std::size_t k, std::size_t max_users = 0);

namespace detail {

// The users dev_recall_at averages over, ascending, with each one's targets
// (sorted): shared by dev_recall_at and the trainer's libtorch dev check.
struct DevTargets {
  std::vector<std::uint32_t> users;
  std::vector<std::vector<std::uint32_t>> targets;
};
DevTargets dev_targets(const UserTowerData& data, std::size_t max_users);

// One user's Recall@k from their top-k items (any order).
double recall_of_top(const std::vector<std::uint32_t>& top, const std::vector<std::uint32_t>& sorted_targets,
                     std::size_t k);

}  // namespace detail
}  // namespace funnel::train::feed
