// Vector recall: the ANN channel finds the exact neighbours, merges with
// BM25 in the recall stage, and refuses indexes it cannot serve; the IVF
// index visiting every list is exact.
#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "fixture.h"
#include "funnel/ann.h"
#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "prerank/prerank_model.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

json bm25_and_ann(std::size_t quota, std::size_t ef_search = 128) {
  return {{"stages",
           {{{"name", "recall"},
             {"type", "recall"},
             {"channels", {{{"type", "bm25"}, {"quota", quota}}, {{"type", "ann"}, {"quota", quota}, {"ef_search", ef_search}}}}},
            {{"name", "truncate"}, {"type", "truncate"}, {"keep", 2 * quota}}}}};
}

TEST(AnnRecall, FindsTheExactNeighboursAndMergesWithBm25) {
  auto index = Index::open(test::index_dir());
  ASSERT_TRUE(index->embeddings());
  EXPECT_EQ(index->channel("ann"), nullptr);  // built by the recall stage, not owned by the index
  Pipeline p(index, bm25_and_ann(50, 400));
  auto model = prerank::PrerankModel::load(test::models_dir());
  auto queries = read_queries(test::world_dir() / "queries.jsonl");
  double overlap = 0;
  int n = 0;
  std::set<std::string> channels_seen;
  for (std::size_t i = 0; i < 20; ++i) {
    Request req;
    req.query = queries[i].text;
    req.k = 100;
    const Response r = p.run(req);
    std::set<std::uint32_t> got;
    for (const auto& item : r.items)
      for (const auto& c : item.channels) {
        channels_seen.insert(c);
        if (c == "ann") got.insert(item.row);
      }
    // The channel's 50 against brute force over the same vectors.
    auto q = model->encode_queries({queries[i].text});
    for (auto row : exact_top_k(*index->embeddings(), q, static_cast<std::uint32_t>(model->config().nq), 10))
      overlap += got.count(row);
    n += 10;
  }
  EXPECT_TRUE(channels_seen.count("bm25"));
  EXPECT_TRUE(channels_seen.count("ann"));
  std::printf("  exact top 10 found in the ANN channel's 50: %.3f\n", overlap / n);
  EXPECT_GT(overlap / n, 0.95);
}

// A query tower that answers "row R" with the stored heads of row R (no
// model): a doc is then its own nearest neighbour.
class RowEncoder final : public QueryEncoder {
 public:
  RowEncoder(std::shared_ptr<const EmbeddingStore> store, std::uint32_t dim) : store_(std::move(store)), dim_(dim) {}
  std::uint32_t heads() const override { return store_->spec().heads; }
  std::uint32_t dim() const override { return dim_; }
  std::vector<float> encode(std::string_view query) const override {
    std::vector<float> v(std::size_t{store_->spec().heads} * store_->spec().dim);
    store_->decode_row(std::stoul(std::string(query.substr(4))), v);
    return v;
  }

 private:
  std::shared_ptr<const EmbeddingStore> store_;
  std::uint32_t dim_;
};

TEST(AnnIndex, IvfVisitingEveryListIsExact) {
  test::TempDir tmp;
  auto store = Index::open(test::index_dir())->embeddings();
  AnnOptions o;
  o.type = "ivf";
  o.ivf_nlist = 16;
  o.ivf_nprobe = 16;
  build_ann_index(*store, tmp.path() / "ivf.faiss", o);
  auto enc = std::make_shared<RowEncoder>(store, store->spec().dim);
  auto ann = open_ann_channel(tmp.path() / "ivf.faiss", enc, store->spec().heads, o);
  EXPECT_EQ(ann->name(), "ann");
  for (std::uint32_t row : {0u, 17u, 999u, 1998u}) {
    const auto q = enc->encode("row " + std::to_string(row));
    const auto exact = exact_top_k(*store, q, store->spec().heads, 10);
    const auto hits = ann->search("row " + std::to_string(row), 10);
    ASSERT_EQ(hits.size(), 10u);
    EXPECT_EQ(hits[0].row, row);  // a doc is its own nearest neighbour (unit heads)
    std::set<std::uint32_t> want(exact.begin(), exact.end());
    std::size_t same = 0;
    for (const auto& h : hits) same += want.count(h.row);
    EXPECT_EQ(same, 10u) << "row " << row;
    for (std::size_t i = 1; i < hits.size(); ++i) EXPECT_GE(hits[i - 1].score, hits[i].score);
  }
  EXPECT_TRUE(ann->search("row 3", 0).empty());
}

TEST(AnnIndex, RefusesWhatItCannotServe) {
  test::TempDir tmp;
  auto store = Index::open(test::index_dir())->embeddings();
  // An index type that does not exist.
  AnnOptions bad;
  bad.type = "lsh";
  std::string msg = test::error_of([&] { build_ann_index(*store, tmp.path() / "x.faiss", bad); });
  EXPECT_TRUE(test::contains(msg, "unknown index type 'lsh'")) << msg;
  EXPECT_FALSE(fs::exists(tmp.path() / "x.faiss"));
  // No file, or not a FAISS file.
  auto enc = std::make_shared<RowEncoder>(store, store->spec().dim);
  msg = test::error_of([&] { open_ann_channel(tmp.path() / "none.faiss", enc, store->spec().heads, AnnOptions{}); });
  EXPECT_TRUE(test::contains(msg, "none.faiss") && test::contains(msg, "missing")) << msg;
  test::write_file(tmp.path() / "junk.faiss", "not an index");
  msg = test::error_of([&] { open_ann_channel(tmp.path() / "junk.faiss", enc, store->spec().heads, AnnOptions{}); });
  EXPECT_TRUE(test::contains(msg, "junk.faiss") && test::contains(msg, "cannot read")) << msg;
  // A query tower of another dimension.
  auto wrong = std::make_shared<RowEncoder>(store, store->spec().dim + 1);
  msg = test::error_of([&] { open_ann_channel(test::index_dir() / "ann.faiss", wrong, store->spec().heads, AnnOptions{}); });
  EXPECT_TRUE(test::contains(msg, "dimension")) << msg;
}

TEST(AnnChannelType, RefusesAnIndexWithoutAnnOrWithAnotherModelsEmbeddings) {
  test::TempDir tmp;
  const Corpus corpus = read_corpus(test::world_dir() / "corpus.jsonl");
  // A BM25-only index: no embeddings, no ANN index.
  build_index(corpus, tmp.path() / "bm25-only", IndexOptions{});
  std::string msg = test::error_of([&] { Pipeline(Index::open(tmp.path() / "bm25-only"), bm25_and_ann(10), "cfg"); });
  EXPECT_TRUE(test::contains(msg, "cfg: stages[0]: channels[1]") && test::contains(msg, "no ANN index")) << msg;
  // Embeddings published by another model than the one the index names.
  fs::copy(test::index_dir(), tmp.path() / "other", fs::copy_options::recursive);
  auto store = Index::open(tmp.path() / "other")->embeddings();
  std::vector<float> rows(store->rows() * store->spec().heads * store->spec().dim);
  const std::size_t per = std::size_t{store->spec().heads} * store->spec().dim;
  for (std::size_t r = 0; r < store->rows(); ++r) store->decode_row(r, std::span<float>(rows.data() + r * per, per));
  StoreSpec spec = store->spec();
  spec.model_id = "prerank-0000000000000000";
  publish_store_version(tmp.path() / "other" / "embeddings", spec, rows, store->rows());
  msg = test::error_of([&] { Pipeline(Index::open(tmp.path() / "other"), bm25_and_ann(10), "cfg"); });
  EXPECT_TRUE(test::contains(msg, "encoded by model prerank-0000000000000000") && test::contains(msg, "--refresh")) << msg;
  // Unknown channel options.
  json cfg = bm25_and_ann(10);
  cfg["stages"][0]["channels"][1]["beam"] = 4;
  msg = test::error_of([&] { Pipeline(Index::open(test::index_dir()), cfg, "cfg"); });
  EXPECT_TRUE(test::contains(msg, "unknown field 'beam'")) << msg;
}

}  // namespace
}  // namespace funnel
