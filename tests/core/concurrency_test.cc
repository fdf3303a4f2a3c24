// The thread-safety the headers promise, under load: readers run requests
// through one shared pipeline (Pipeline::run "may be called concurrently"),
// open the embedding store and the index, score with the serving scorer and
// compute cross features, while another thread publishes new store versions
// in a loop. Every reader must see one whole version: the model id, row
// count and every row of one published version, byte for byte. Built and run
// under ThreadSanitizer by `make test` (FUNNEL_SANITIZE=thread), where a data
// race fails the test; the loops are bounded in count and time. CTest runs
// it with OMP_NUM_THREADS=1: libgomp is not instrumented, and the index build
// in SetUp would otherwise report races inside the OpenMP runtime.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>

#include "funnel/embedding_store.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "funnel/prerank_scorer.h"
#include "rank/cross_features.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kDocs = 2000, kHeads = 2, kDim = 8;
constexpr std::uint64_t kVersions = 40;  // published by the writer (version 1 exists before)

// The rows of version v: every value identifies (v, row, position).
std::vector<float> rows_of(std::uint64_t v) {
  std::vector<float> rows(std::size_t{kDocs} * kHeads * kDim);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<float>(v) + static_cast<float>(i % 997) / 1024.0f;
  return rows;
}

std::string model_of(std::uint64_t v) { return "model-v" + std::to_string(v); }

Corpus small_corpus() {
  Corpus c;
  const char* words[] = {"river", "mountain", "cooking", "pasta", "guitar", "lesson", "cat", "video", "travel", "news"};
  for (std::uint32_t r = 0; r < kDocs; ++r) {
    Doc d;
    d.id = "d" + std::to_string(r);
    d.title = std::string(words[r % 10]) + " " + words[(r / 10) % 10];
    d.text = std::string(words[(r * 7) % 10]) + " " + words[(r * 3) % 10] + " " + words[r % 10];
    d.author = "a" + std::to_string(r % 13);
    c.row_of[d.id] = r;
    c.docs.push_back(d);
  }
  return c;
}

// True when `store` is version v exactly: its model id, size and every row.
bool whole_version(const EmbeddingStore& store) {
  const std::uint64_t v = store.version();
  if (store.spec().model_id != model_of(v) || store.rows() != kDocs || store.spec().heads != kHeads) return false;
  const auto want = rows_of(v);
  const std::size_t per = std::size_t{kHeads} * kDim;
  for (std::size_t r = 0; r < kDocs; ++r)
    if (std::memcmp(store.raw_row(r), want.data() + r * per, per * sizeof(float)) != 0) return false;
  return true;
}

// A scoring stage over the index's store: the dot product of a fixed query
// with each candidate's first head (the serving scorer's dot kernel reads
// one head, so the store is published with the first head first).
class StoreProbe final : public ScoringStage {
 public:
  StoreProbe(const nlohmann::json& cfg, const Index& index, const std::string& where)
      : ScoringStage(cfg, 1000, where), store_(index.embeddings()) {}

 private:
  void own_scores(const StageContext& ctx, std::span<Candidate> cands, std::span<float> out) const override {
    std::vector<float> row(std::size_t{kHeads} * kDim);
    for (std::size_t i = 0; i < cands.size(); ++i) {
      store_->decode_row(cands[i].row, row);
      float s = 0;
      for (std::uint32_t k = 0; k < kDim; ++k) s += row[k] * static_cast<float>(k + 1);
      out[i] = s;
    }
  }
  std::shared_ptr<const EmbeddingStore> store_;
};

// Encodes the corpus as version 1's rows (no model needed).
class FixedEncoder final : public DocEncoder {
 public:
  std::string model_id() const override { return model_of(1); }
  std::string models_dir() const override { return "no-models"; }
  std::uint32_t heads() const override { return kHeads; }
  std::uint32_t dim() const override { return kDim; }
  std::vector<float> encode(const Corpus&, const ProgressFn&) const override { return rows_of(1); }
};

class Concurrency : public ::testing::Test {
 protected:
  void SetUp() override {
    corpus_ = small_corpus();
    FixedEncoder encoder;
    IndexOptions io;
    io.encoder = &encoder;  // the index's embeddings: version 1
    build_index(corpus_, dir(), io);
    register_stage_type("store_probe", [](const nlohmann::json& c, const Index& i, const std::string& w) -> std::unique_ptr<Stage> {
      return std::make_unique<StoreProbe>(c, i, w);
    });
  }
  fs::path dir() const { return tmp_.path() / "index"; }
  test::TempDir tmp_;
  Corpus corpus_;
};

nlohmann::json cascade() {
  return nlohmann::json::parse(R"({"stages": [
    {"name": "recall", "type": "recall", "channels": [{"type": "bm25", "quota": 200}]},
    {"name": "probe", "type": "store_probe", "keep": 50},
    {"name": "truncate", "type": "truncate", "keep": 20}]})");
}

TEST_F(Concurrency, ReadersSeeOneWholeVersionWhileVersionsArePublished) {
  // The index and pipeline opened before any publishing: version 1 for good.
  auto index = Index::open(dir());
  ASSERT_EQ(index->embeddings()->version(), 1u);
  const Pipeline shared(index, cascade());
  const std::vector<std::string> queries = {"river mountain", "cooking pasta", "guitar lesson", "cat video news", "travel"};
  std::vector<std::vector<std::uint32_t>> expected;  // what `shared` returns for each query, single-threaded
  for (const auto& q : queries) {
    Request r;
    r.query = q;
    std::vector<std::uint32_t> rows;
    for (const auto& item : shared.run(r).items) rows.push_back(item.row);
    expected.push_back(rows);
  }
  const rank::CrossFeatures features = rank::CrossFeatures::build(corpus_, {}, {});
  std::vector<float> want_features(rank::CrossFeatures::kCount);
  features.compute(features.prepare(queries[0]), 7, want_features.data());

  std::atomic<bool> done{false};
  std::atomic<int> failures{0}, reads{0};
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  std::thread writer([&] {
    for (std::uint64_t v = 2; v <= kVersions + 1 && Clock::now() < deadline; ++v)
      publish_store_version(dir() / "embeddings", {model_of(v), Precision::kFp32, kHeads, kDim}, rows_of(v), kDocs);
    done = true;
  });
  auto reader = [&](int id) {
    for (int i = 0; i < 2000 && Clock::now() < deadline && !(done && i > 20); ++i) try {
      // The shared pipeline: the same answers as single-threaded.
      Request r;
      r.query = queries[static_cast<std::size_t>(i + id) % queries.size()];
      std::vector<std::uint32_t> rows;
      for (const auto& item : shared.run(r).items) rows.push_back(item.row);
      if (rows != expected[static_cast<std::size_t>(i + id) % queries.size()]) ++failures;
      // The current store, and an index opened now: one whole version each.
      auto store = EmbeddingStore::open(dir() / "embeddings");
      if (!whole_version(*store)) ++failures;
      auto fresh = Index::open(dir());
      if (!whole_version(*fresh->embeddings())) ++failures;
      // A pipeline over it scores from that version only.
      const Pipeline p(fresh, cascade());
      Request q;
      q.query = queries[0];
      const Response resp = p.run(q);
      const float base = static_cast<float>(fresh->embeddings()->version());
      for (const auto& item : resp.items)
        if (item.score < base * 36.0f - 1e-3f) ++failures;  // sum of (v + frac) * (k + 1) >= v * 36
      // The serving scorer over the current store.
      PrerankScorer scorer(store, {Matcher::kSoftAttention, 5.0f, false, nullptr});
      std::vector<float> query(std::size_t{kHeads} * kDim, 0.1f), out(3);
      const std::vector<std::uint32_t> cands{0, 150, 299};
      scorer.score(query, kHeads, cands, out);
      for (float s : out)
        if (!(s > 0)) ++failures;
      // Cross features from several threads.
      std::vector<float> f(rank::CrossFeatures::kCount);
      features.compute(features.prepare(queries[0]), 7, f.data());
      if (f != want_features) ++failures;
      ++reads;
    } catch (const std::exception& e) {  // e.g. a version file that is not there yet
      ++failures;
      std::fprintf(stderr, "reader %d: %s\n", id, e.what());
    }
  };
  std::vector<std::thread> readers;
  for (int id = 0; id < 3; ++id) readers.emplace_back(reader, id);
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads.load(), 60);
  std::printf("  %d reads while %llu versions were published\n", reads.load(),
              static_cast<unsigned long long>(kVersions));
  // Every version was published, and the index opened first still holds 1.
  EXPECT_EQ(current_store_version(dir() / "embeddings"), kVersions + 1);
  EXPECT_EQ(index->embeddings()->version(), 1u);
  EXPECT_TRUE(whole_version(*index->embeddings()));
}

TEST_F(Concurrency, FusionAndReRankStagesAreSafeToShare) {
  // One pipeline with fusion, DPP (thread-local scratch, AVX2 loops) and
  // rules, run from several threads: every answer is the single-threaded one.
  auto index = Index::open(dir());
  const Pipeline shared(index, nlohmann::json::parse(R"({"stages": [
    {"name": "recall", "type": "recall", "channels": [{"type": "bm25", "quota": 200}]},
    {"name": "probe", "type": "store_probe", "keep": 50},
    {"name": "fusion", "type": "formula", "weights": {"score": 1, "position": -0.5}},
    {"name": "dpp", "type": "dpp", "theta": 0.8},
    {"name": "rules", "type": "rules", "windows": [{"field": "author", "max": 1, "window": 2}]}]})"));
  const std::vector<std::string> queries = {"river mountain", "cooking pasta", "guitar lesson", "cat video news"};
  std::vector<std::vector<std::uint32_t>> expected;
  for (const auto& q : queries) {
    Request r;
    r.query = q;
    std::vector<std::uint32_t> rows;
    for (const auto& item : shared.run(r).items) rows.push_back(item.row);
    expected.push_back(rows);
  }
  std::atomic<int> failures{0};
  auto reader = [&](int id) {
    for (int i = 0; i < 100; ++i) {
      const std::size_t q = static_cast<std::size_t>(i + id) % queries.size();
      Request r;
      r.query = queries[q];
      r.k = 10;
      std::vector<std::uint32_t> rows;
      for (const auto& item : shared.run(r).items) rows.push_back(item.row);
      if (rows != expected[q]) ++failures;
    }
  };
  std::vector<std::thread> threads;
  for (int id = 0; id < 3; ++id) threads.emplace_back(reader, id);
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace funnel
