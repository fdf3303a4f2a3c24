// Refresh without downtime: while clients keep searching, a new embedding
// version (and its ANN index) is published and reloaded, then a broken
// version and a half-published one are offered and refused. No request may
// fail, every answer comes from a version that was completely loaded, and
// the old version keeps serving after a refusal. Loopback only.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "funnel/data.h"
#include "funnel/embedding_store.h"
#include "funnel/index.h"
#include "serve_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using test::RunningServer;

json ann_prerank_cascade() {
  return json::parse(R"({"stages": [
    {"name": "recall", "type": "recall", "channels": [{"type": "bm25", "quota": 100}, {"type": "ann", "quota": 100}]},
    {"name": "prerank", "type": "prerank", "keep": 20}]})");
}

// Clients searching in a loop until stopped: statuses and the store
// versions that answered.
class Load {
 public:
  Load(const RunningServer& s, int clients) {
    for (int t = 0; t < clients; ++t)
      threads_.emplace_back([this, &s, t] {
        httplib::Client c = s.client();
        for (int i = 0; !stop_.load() && i < 100000; ++i) {
          auto r = c.Post("/v1/search", json{{"query", t ? "pig cartoon" : "guitar lesson"}, {"k", 5}}.dump(),
                          "application/json");
          std::lock_guard lock(mu_);
          if (!r) {
            ++statuses_[-1];
            continue;
          }
          ++statuses_[r->status];
          ++versions_[r->get_header_value("X-Funnel-Store-Version")];
        }
      });
  }
  std::pair<std::map<int, int>, std::map<std::string, int>> stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    return {statuses_, versions_};
  }

 private:
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<int, int> statuses_;
  std::map<std::string, int> versions_;
};

json reload(const RunningServer& s, int expect_status, const std::string& token = "") {
  httplib::Headers h;
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  auto r = s.client().Post("/v1/admin/reload", h, "", "application/json");
  EXPECT_TRUE(r);
  if (!r) return nullptr;
  EXPECT_EQ(r->status, expect_status) << r->body;
  return json::parse(r->body, nullptr, false);
}

TEST(ServerReload, NewVersionsSwitchWithoutAFailedRequestAndBrokenOnesAreRefused) {
  test::TempDir tmp;
  const fs::path index = tmp.path() / "index";
  fs::copy(test::index_dir(), index, fs::copy_options::recursive);
  ServerOptions o;
  o.index = index;
  o.configs = {test::cascade_file(tmp.path(), "ann", ann_prerank_cascade())};
  o.threads = 2;
  RunningServer s(o);
  EXPECT_EQ(s.server().version()["store_version"], 1);

  Load load(s, 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // A new version of the doc embeddings and its ANN index, published while
  // the server answers from version 1.
  const Corpus corpus = read_corpus(test::world_dir() / "corpus.jsonl");
  auto encoder = load_doc_encoder(test::models_dir());
  ASSERT_EQ(refresh_embeddings(index, corpus, *encoder, Precision::kFp16), 2u);
  json r = reload(s, 200);
  EXPECT_EQ(r["generation"], 2);
  EXPECT_EQ(r["store_version"], 2);
  EXPECT_EQ(r["previous"]["store_version"], 1);
  EXPECT_EQ(r["old_released"], true) << "version 1 is still held after its requests ended";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  // A broken version: published, then damaged on disk (its checksum fails).
  ASSERT_EQ(refresh_embeddings(index, corpus, *encoder, Precision::kFp32), 3u);
  {
    std::fstream f(index / "embeddings" / "v000003.emb", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    f.put('\x5a');
    f.put('\xa5');
  }
  json refused = reload(s, 500);
  EXPECT_TRUE(test::contains(refused["error"]["message"].get<std::string>(), "reload refused")) << refused.dump();
  EXPECT_TRUE(test::contains(refused["error"]["message"].get<std::string>(), "still serving generation 2"));
  EXPECT_EQ(s.server().version()["generation"], 2);

  // A half-published one: the store moved to version 4, its ANN index not yet.
  auto v2 = EmbeddingStore::open(index / "embeddings", 2);
  std::vector<float> rows(v2->rows() * v2->spec().heads * v2->spec().dim);
  for (std::size_t i = 0; i < v2->rows(); ++i)
    v2->decode_row(i, std::span<float>(rows).subspan(i * v2->spec().heads * v2->spec().dim,
                                                     v2->spec().heads * v2->spec().dim));
  ASSERT_EQ(publish_store_version(index / "embeddings", v2->spec(), rows, v2->rows()), 4u);
  json half = reload(s, 500);
  EXPECT_TRUE(test::contains(half["error"]["message"].get<std::string>(), "half-way through")) << half.dump();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  auto [statuses, versions] = load.stop();
  EXPECT_EQ(statuses.size(), 1u) << "some requests did not get 200";
  EXPECT_GT(statuses[200], 10);
  // Answers came from versions 1 and 2 only: never from the refused ones.
  EXPECT_GT(versions["1"], 0);
  EXPECT_GT(versions["2"], 0);
  EXPECT_EQ(versions.size(), 2u);
  auto m = s.client().Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_TRUE(test::contains(m->body, "funnel_reloads_total{result=\"ok\"} 1")) << m->body;
  EXPECT_TRUE(test::contains(m->body, "funnel_reloads_total{result=\"failed\"} 2"));
  EXPECT_TRUE(test::contains(m->body, "funnel_serving_generation 2"));
}

TEST(ServerReload, AdminEndpointsNeedTheTokenWhenOneIsSet) {
  test::TempDir tmp;
  ServerOptions o;
  o.index = test::index_dir();
  o.admin_token = "s3cret";
  RunningServer s(o);
  json r = reload(s, 403);
  EXPECT_TRUE(test::contains(r["error"]["message"].get<std::string>(), "Authorization: Bearer")) << r.dump();
  reload(s, 403, "wrong");
  EXPECT_EQ(s.server().version()["generation"], 1);
  EXPECT_EQ(reload(s, 200, "s3cret")["generation"], 2);
  // Asynchronous: 202 at once, the switch seen on /healthz, the outcome on /v1/info.
  httplib::Headers h{{"Authorization", "Bearer s3cret"}};
  auto r202 = s.client().Post("/v1/admin/reload?async=1", h, "", "application/json");
  ASSERT_TRUE(r202);
  EXPECT_EQ(r202->status, 202) << r202->body;
  bool switched = false;
  for (int i = 0; i < 600 && !switched; ++i) {  // 60 s at most
    auto hz = s.client().Get("/healthz");
    switched = hz && json::parse(hz->body)["generation"] == 3;
    if (!switched) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(switched) << "the asynchronous reload never switched";
  json info;
  for (int i = 0; i < 100 && !info.contains("last_async_reload"); ++i) {  // the outcome lands just after the switch
    info = json::parse(s.client().Get("/v1/info")->body);
    if (!info.contains("last_async_reload")) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(info["last_async_reload"]["ok"], true) << info.dump();
}

}  // namespace
}  // namespace funnel
