// The embeddable engine: opens an index with the models it was built with,
// every built-in stage type available without registering anything.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixture.h"
#include "funnel/engine.h"
#include "funnel/error.h"
#include "test_util.h"

namespace funnel {
namespace {

TEST(Engine, RunsTheShippedFullCascade) {
  const Engine engine = Engine::from_files(test::index_dir(), std::string(FUNNEL_SOURCE_DIR) + "/configs/demo-full.json");
  EXPECT_EQ(engine.pipeline().stage_types(), (std::vector<std::string>{"recall", "prerank", "rank"}));
  const Response r = engine.search(read_queries(test::world_dir() / "queries.jsonl")[0].text, 5);
  ASSERT_EQ(r.items.size(), 5u);
  ASSERT_EQ(r.trace.size(), 3u);
  for (const auto& item : r.items) {
    EXPECT_EQ(item.marks.size(), 3u);
    EXPECT_FALSE(item.pxtr.empty());
  }
}

TEST(Engine, DefaultCascadeAndErrors) {
  const Engine engine(test::index_dir());
  EXPECT_EQ(engine.pipeline().stage_types(), (std::vector<std::string>{"recall", "truncate"}));
  EXPECT_EQ(engine.index().size(), 2000u);
  EXPECT_TRUE(test::contains(test::error_of([] { Engine e("/nonexistent-index"); }), "/nonexistent-index"));
  EXPECT_TRUE(test::contains(test::error_of([] { Engine::from_files(test::index_dir(), "/nonexistent.json"); }), "/nonexistent.json"));
  EXPECT_TRUE(test::contains(test::error_of([&] { engine.search("", 5); }), "request: field 'query': empty"));
  for (const char* type : {"recall", "truncate", "prerank", "rank"}) {
    const auto types = stage_types();
    EXPECT_NE(std::find(types.begin(), types.end(), type), types.end()) << type;
  }
  EXPECT_TRUE(static_cast<bool>(find_channel_type("ann")));
}

}  // namespace
}  // namespace funnel
