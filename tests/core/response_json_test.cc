// The response's JSON form: what the CLI prints and clients read back.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "funnel/error.h"
#include "funnel/pipeline.h"
#include "test_util.h"

namespace funnel {
namespace {
using nlohmann::json;

Response sample() {
  Response r;
  r.trace = {{"recall", "recall", 0, 3, 0.5, {}, {}, {}}, {"rank", "rank", 3, 2, 1.25, {}, {}, {"a note"}}};
  ResultItem a;
  a.doc_id = "d7";
  a.title = "Cat video";
  a.score = 2.5;
  a.channels = {"bm25", "ann"};
  a.marks = {{0, 11.0, 2}, {1, 2.5, 1}};
  a.pxtr = {{"relevance", 2.5}, {"click", 0.25}};
  ResultItem b;
  b.doc_id = "d3";
  b.title = "";
  b.score = -1;
  b.channels = {"bm25"};
  b.marks = {{0, 12.0, 1}, {1, -1.0, 2}};
  r.items = {a, b};
  r.total_ms = 1.75;
  return r;
}

TEST(ResponseJson, HasTheDocumentedShape) {
  Request req;
  req.query = "cat";
  req.k = 2;
  const json j = response_to_json(sample(), req);
  EXPECT_EQ(j["query"], "cat");
  EXPECT_EQ(j["k"], 2);
  EXPECT_EQ(j["total_ms"], 1.75);
  ASSERT_EQ(j["items"].size(), 2u);
  EXPECT_EQ(j["items"][0]["rank"], 1);
  EXPECT_EQ(j["items"][0]["id"], "d7");
  EXPECT_EQ(j["items"][0]["stages"][0], (json{{"stage", "recall"}, {"score", 11.0}, {"rank", 2}}));
  EXPECT_EQ(j["items"][0]["pxtr"]["click"], 0.25);
  EXPECT_FALSE(j["items"][1].contains("pxtr"));
  EXPECT_EQ(j["trace"][1], (json{{"name", "rank"}, {"type", "rank"}, {"in", 3}, {"out", 2}, {"ms", 1.25}, {"notes", {"a note"}}}));
  EXPECT_FALSE(j["trace"][0].contains("notes"));
}

TEST(ResponseJson, ReadsBackWhatItWrites) {
  Request req;
  req.query = "cat";
  req.k = 2;
  const json j = response_to_json(sample(), req);
  const Response back = response_from_json(j);
  EXPECT_EQ(response_to_json(back, req), j);
  ASSERT_EQ(back.items.size(), 2u);
  EXPECT_EQ(back.items[0].marks[1].stage, 1u);
  EXPECT_EQ(back.items[0].pxtr.size(), 2u);
}

TEST(ResponseJson, NamesTheFirstBadField) {
  Request req;
  req.query = "cat";
  const json good = response_to_json(sample(), req);
  auto error_for = [&](const std::function<void(json&)>& edit) {
    json j = good;
    edit(j);
    return test::error_of([&] { response_from_json(j); });
  };
  EXPECT_TRUE(test::contains(error_for([](json& j) { j.erase("trace"); }), "response: trace: missing"));
  EXPECT_TRUE(test::contains(error_for([](json& j) { j["items"][1]["score"] = "high"; }), "items[1].score: expected a number"));
  EXPECT_TRUE(test::contains(error_for([](json& j) { j["items"][0]["stages"][0]["stage"] = "prerank"; }),
                       "items[0].stages[0].stage: 'prerank' is not in the trace"));
  EXPECT_TRUE(test::contains(error_for([](json& j) { j["trace"][0]["out"] = -1; }), "trace[0].out: expected an integer"));
  EXPECT_TRUE(test::contains(error_for([](json& j) { j["items"][0]["pxtr"] = 3; }), "items[0].pxtr: expected an object"));
  EXPECT_TRUE(test::contains(test::error_of([] { response_from_json(json::array()); }), "expected an object"));
}

}  // namespace
}  // namespace funnel
