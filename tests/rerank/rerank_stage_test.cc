// The re-rank stages in a cascade: rules (windows, caps, notes when they
// cannot hold) and dpp (diversity over the stored embeddings).
#include <gtest/gtest.h>

#include "funnel/error.h"
#include "fusion/stage_world.h"

namespace funnel {
namespace {
using nlohmann::json;
using test::ids;

Request request(std::size_t k, const json& overrides = json::object()) {
  Request r;
  r.query = "clip";
  r.k = k;
  r.overrides = overrides;
  return r;
}

TEST(RulesStage, CapsAndWindowsReorderTheTop) {
  test::StageWorld w;  // score order d0, d1, ...; even rows "short", odd "long"
  Pipeline cap(w.index, w.cascade({{{"name", "rules"}, {"type", "rules"}, {"caps", {{"short", 2}}}}}));
  EXPECT_EQ(ids(cap.run(request(5))), (std::vector<std::string>{"d0", "d1", "d2", "d3", "d5"}));
  // Authors a0, a1, a0, a1 ...: no author twice within 3 positions is
  // impossible with 2 authors, so 3 authors are needed.
  test::StageWorld three(12, 3);
  Pipeline window(three.index, three.cascade({{{"name", "rules"}, {"type", "rules"},
                                               {"windows", {{{"field", "author"}, {"max", 1}, {"window", 3}}}}}}));
  const Response r = window.run(request(6));
  EXPECT_EQ(ids(r), (std::vector<std::string>{"d0", "d1", "d2", "d3", "d4", "d5"}));  // already holds
  EXPECT_TRUE(r.trace.back().notes.empty());
  // With a watch-first fusion before it the order changes, and the rule still holds.
  Pipeline fused(three.index, three.cascade({{{"name", "fusion"}, {"type", "formula"}, {"weights", {{"watch", 1}}}},
                                             {{"name", "rules"}, {"type", "rules"},
                                              {"windows", {{{"field", "author"}, {"max", 1}, {"window", 4}}}}}}));
  const auto top = ids(fused.run(request(6)));
  // d11 (a2), d10 (a1), d9 (a0), then d8 (a2) would repeat a2 within 4: d7? (a1) no, d6 (a0) no...
  // every author repeats within 4 positions with 3 authors: the rule cannot hold.
  const Response rf = fused.run(request(6));
  ASSERT_FALSE(rf.trace.back().notes.empty());
  EXPECT_NE(rf.trace.back().notes[0].find("author"), std::string::npos) << rf.trace.back().notes[0];
  EXPECT_EQ(top.size(), 6u);
  // The notes are in the response JSON.
  const json j = response_to_json(rf, request(6));
  EXPECT_TRUE(j["trace"].back().contains("notes"));
  EXPECT_EQ(response_from_json(j).trace.back().notes, rf.trace.back().notes);
}

TEST(RulesStage, BadConfigsAreErrors) {
  test::StageWorld w;
  EXPECT_THROW(Pipeline(w.index, w.cascade({{{"name", "rules"}, {"type", "rules"}}})), Error);
  EXPECT_THROW(Pipeline(w.index, w.cascade({{{"name", "rules"}, {"type", "rules"}, {"caps", {{"podcast", 1}}}}})), Error);
  EXPECT_THROW(Pipeline(w.index, w.cascade({{{"name", "rules"}, {"type", "rules"},
                                              {"windows", {{{"field", "colour"}, {"max", 1}, {"window", 2}}}}}})),
               Error);
  EXPECT_THROW(Pipeline(w.index, w.cascade({{{"name", "rules"}, {"type", "rules"},
                                              {"windows", {{{"field", "author"}, {"max", 0}, {"window", 2}}}}}})),
               Error);
}

TEST(DppStage, LowThetaSpreadsThePicksOverClusters) {
  test::StageWorld w(12, 3, 4, 3);  // rows 0-2 one cluster, 3-5 the next, ...
  Pipeline p(w.index, w.cascade({{{"name", "dpp"}, {"type", "dpp"}, {"theta", 0.3}}}));
  EXPECT_EQ(ids(p.run(request(4))), (std::vector<std::string>{"d0", "d3", "d6", "d9"}));
  // theta = 1: the score order; per request.
  EXPECT_EQ(ids(p.run(request(4, {{"dpp", {{"theta", 1.0}}}}))), (std::vector<std::string>{"d0", "d1", "d2", "d3"}));
  // Only `select` places are diversified; the rest keep their order.
  const auto two = ids(p.run(request(5, {{"dpp", {{"select", 2}}}})));
  EXPECT_EQ(two, (std::vector<std::string>{"d0", "d3", "d1", "d2", "d4"}));
  EXPECT_THROW(p.run(request(4, {{"dpp", {{"theta", 2}}}})), Error);
  EXPECT_THROW(p.run(request(4, {{"dpp", {{"lambda", 2}}}})), Error);
}

TEST(DppStage, NeedsEmbeddings) {
  test::TempDir tmp;
  Corpus c;
  Doc d;
  d.id = "d0";
  d.title = "clip";
  c.docs.push_back(d);
  c.row_of["d0"] = 0;
  build_index(c, tmp.path() / "index", IndexOptions{});
  const auto index = Index::open(tmp.path() / "index");
  json cfg = {{"stages", {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}}}}},
                          {{"name", "dpp"}, {"type", "dpp"}}}}};
  EXPECT_THROW(Pipeline(index, cfg), Error);
}

}  // namespace
}  // namespace funnel
