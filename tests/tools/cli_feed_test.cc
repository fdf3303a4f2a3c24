// The feed end to end through the CLI on a small world: gen writes the feed,
// `feed train` writes a model with a user tower and a ranker, `feed eval
// --json` has the keys other tools read, a feed request runs through
// `funnel search --user`, and `feed import` reads pair files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

TEST(CliFeed, GenTrainEvalSearch) {
  test::TempDir tmp;
  const std::string w = (tmp.path() / "world").string(), idx = (tmp.path() / "index").string();
  auto r = test::run_cli("gen --out " + w + " --docs 3000 --queries 100 --users 600 --impressions 2000 --seed 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::is_regular_file(fs::path(w) / "feed" / "interactions.tsv"));
  r = test::run_cli("index --data " + w + " --out " + idx);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_cli("feed train --data " + w + " --out " + idx + "/feed --epochs 2 --dim 16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(test::contains(r.output, "user tower: dim 16 (learned item vectors)")) << r.output;
  r = test::run_cli("feed eval --index " + idx + " --config " FUNNEL_SOURCE_DIR "/configs/feed-prerank.json --json", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = json::parse(r.output);
  for (const char* c : {"item2item", "user_ann", "follow", "trending", "revisit"})
    EXPECT_TRUE(j["channels"][c].contains("recall@100")) << c;
  EXPECT_TRUE(j["merged"].contains("recall@100") && j["merged"].contains("hitrate@100"));
  EXPECT_TRUE(j["final"].contains("ndcg@10"));
  for (const char* b : {"popularity", "item_cf"})
    EXPECT_TRUE(j["baselines"][b].contains("recall@100") && j["baselines"][b].contains("ndcg@10")) << b;
  EXPECT_GT(j["users"].get<int>(), 0);
  // The merge holds at least what its best channel finds in its first 500.
  double best = 0;
  for (auto& [c, m] : j["channels"].items()) best = std::max(best, m["recall@100"].get<double>());
  EXPECT_GE(j["merged"]["recall@500"].get<double>() + 1e-9, best);
  // A feed request: a user, no query.
  r = test::run_cli("search --index " + idx + " --config " FUNNEL_SOURCE_DIR "/configs/feed.json --user u000 --k 5");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(test::contains(r.output, "rank ")) << r.output;
}

TEST(CliFeed, ImportPairsAndBadInput) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "buy.txt", "0 1\n0 2\n1 2\n");
  test::write_file(tmp.path() / "cart.txt", "0 3\n1 1\n");
  test::write_file(tmp.path() / "test.txt", "0 3\n1 3\n");
  const std::string out = (tmp.path() / "data").string();
  auto r = test::run_cli("feed import --pairs purchase=" + (tmp.path() / "buy.txt").string() + " --pairs cart=" +
                         (tmp.path() / "cart.txt").string() + " --test " + (tmp.path() / "test.txt").string() +
                         " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(test::contains(r.output, "2 users, 3 items")) << r.output;
  test::write_file(tmp.path() / "bad.txt", "0 1\n0\n");
  r = test::run_cli("feed import --pairs purchase=" + (tmp.path() / "bad.txt").string() + " --out " +
                    (tmp.path() / "d2").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "bad.txt:2")) << r.output;
  r = test::run_cli("feed train --data " + (tmp.path() / "nowhere").string() + " --out " + (tmp.path() / "m").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(test::contains(r.output, "not found")) << r.output;
}

}  // namespace
}  // namespace funnel
