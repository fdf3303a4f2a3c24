#include "train/feed/feed_tower.h"

#include <chrono>
#include <cmath>

#include <nlohmann/json.hpp>

#include "feed/feed_model.h"
#include "feed/feed_rank_train.h"
#include "funnel/error.h"
#include "train/feed/user_tower.h"

namespace funnel::train::feed {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Each user's engaged items as of `state`, oldest first.
std::vector<std::vector<std::uint32_t>> histories(const FeedState& state) {
  std::vector<std::vector<std::uint32_t>> h(state.users());
  for (std::uint32_t u = 0; u < state.users(); ++u)
    for (const auto& e : state.history(u)) h[u].push_back(e.item);
  return h;
}

// The store's doc vectors as item vectors: the mean of each doc's heads.
std::vector<float> store_vectors(const EmbeddingStore& store, std::size_t& dim) {
  const std::size_t heads = store.spec().heads, d = store.spec().dim;
  std::vector<float> row(heads * d), out(store.rows() * d, 0.0f);
  for (std::size_t r = 0; r < store.rows(); ++r) {
    store.decode_row(r, row);
    for (std::size_t h = 0; h < heads; ++h)
      for (std::size_t k = 0; k < d; ++k) out[r * d + k] += row[h * d + k] / static_cast<float>(heads);
  }
  dim = d;
  return out;
}

}  // namespace

FeedTowerSummary train_feed_tower(
    const funnel::feed::FeedData& data, const FeedOptions& state_options, const EmbeddingStore* store,
    const fs::path& out, const FeedTowerOptions& options, json& vectors_json,
    const std::function<std::vector<float>(std::uint32_t, const std::vector<std::uint32_t>&)>& teacher,
    const std::function<void(const std::string&)>& log) {
  const auto t0 = std::chrono::steady_clock::now();
  // The states the vectors are computed as of; training reads the first only.
  const auto train_state = FeedState::build(data.corpus, data.log, LogPart::kTrain, state_options);
  const auto dev_state = FeedState::build(data.corpus, data.log, LogPart::kDev, state_options);
  const auto test_state = FeedState::build(data.corpus, data.log, LogPart::kTest, state_options);

  UserTowerData d;
  d.n_users = train_state->users();
  d.n_items = data.corpus.docs.size();
  if (store) {
    if (store->rows() != d.n_items) throw Error("the index's embeddings do not cover the feed's corpus");
    d.item_vectors = store_vectors(*store, d.dim);
  } else {
    d.dim = options.dim;
  }
  d.history = histories(*train_state);
  // Dev targets: the items engaged on the dev part (grade > 0).
  d.dev_items.resize(d.n_users);
  const Interactions& L = data.log.log;
  for (std::size_t i = 0; i < L.rows.size(); ++i)
    if (data.log.part[i] == LogPart::kDev && data.log.grade(i) > 0) d.dev_items[L.rows[i].user].push_back(L.rows[i].item);
  // The vectors serving needs as of dev and as of test (the trainer encodes
  // them with its kept epoch; it never trains on them).
  d.encode_histories = {histories(*dev_state), histories(*test_state)};
  if (teacher) {
    // Distillation lists: the ranker's logits over each user's training
    // candidates (what the channels recall as of the training part).
    d.teacher.resize(d.n_users);
    for (std::uint32_t u = 0; u < d.n_users; ++u) {
      if (d.history[u].empty()) continue;
      std::vector<std::uint32_t> items;
      for (const char* ch : feed_state_channels())
        for (const auto& h : feed_channel_hits(*train_state, ch, u, 20)) items.push_back(h.row);
      std::sort(items.begin(), items.end());
      items.erase(std::unique(items.begin(), items.end()), items.end());
      if (items.size() < 2) continue;
      const auto logits = teacher(u, items);
      for (std::size_t k = 0; k < items.size(); ++k) d.teacher[u].push_back({items[k], logits[k]});
    }
  }
  UserTowerOptions o;
  o.history_len = state_options.history;
  o.epochs = options.epochs;
  o.seed = options.seed;
  o.threads = options.threads;
  o.distill_weight = teacher ? options.distill_weight : 0.0;
  const UserTowerResult r = train_user_tower(d, o, log);
  if (r.encoded.size() != 2) throw Error("user tower: expected the vectors as of dev and test");

  funnel::feed::write_f32(out / "items.f32", r.item_vectors);
  funnel::feed::write_f32(out / "users-train.f32", r.user_vectors);
  funnel::feed::write_f32(out / "users-dev.f32", r.encoded[0]);
  funnel::feed::write_f32(out / "users-test.f32", r.encoded[1]);
  vectors_json = {{"dim", d.dim},
                  {"items", "items.f32"},
                  {"users", {{"train", "users-train.f32"}, {"dev", "users-dev.f32"}, {"test", "users-test.f32"}}}};
  FeedTowerSummary s;
  s.dim = d.dim;
  s.learned_items = !store;
  s.dev_recall_untrained = r.dev_recall_untrained;
  s.dev_recall_trained = r.dev_recall_trained;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace funnel::train::feed
