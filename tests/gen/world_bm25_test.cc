// BM25 on the default world must be useful but far from perfect: the world
// exists so that learned stages have something to win.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "funnel/index.h"
#include "funnel/metrics.h"
#include "funnel/world.h"
#include "test_util.h"

namespace funnel {
namespace {

TEST(WorldBm25, DefaultWorldNdcgBetweenPoint3AndPoint7) {
  WorldOptions o;  // the default demo world
  o.impressions = 0;  // logs play no part in BM25; skip their cost here
  World w = make_world(o);
  test::TempDir tmp;
  build_index(w.corpus, tmp.path() / "index", IndexOptions{});
  auto index = Index::open(tmp.path() / "index");
  const RecallChannel* bm25 = index->channel("bm25");
  ASSERT_NE(bm25, nullptr);

  std::map<std::string, std::pair<double, int>> by_intent;
  double total = 0;
  int n = 0;
  for (std::size_t i = 0; i < w.queries.size(); ++i) {
    if (w.query_truth[i].split != "test") continue;
    auto hits = bm25->search(w.queries[i].text, 10);
    std::vector<std::string> ranked;
    for (auto& h : hits) ranked.push_back(index->doc_id(h.row));
    double ndcg = metrics::ndcg_at_k(ranked, w.qrels.at(w.queries[i].id), 10);
    auto& slot = by_intent[w.query_truth[i].intent];
    slot.first += ndcg;
    slot.second += 1;
    total += ndcg;
    ++n;
  }
  for (auto& [intent, s] : by_intent)
    std::printf("  %-14s queries %4d  nDCG@10 %.4f\n", intent.c_str(), s.second, s.first / s.second);
  double mean = total / n;
  std::printf("  all            queries %4d  nDCG@10 %.4f\n", n, mean);
  EXPECT_GT(mean, 0.3);
  EXPECT_LT(mean, 0.7);
}

}  // namespace
}  // namespace funnel
