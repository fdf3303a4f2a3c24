// The cascade layer: config validation, per-stage trace, budgets and
// per-request overrides.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "funnel/error.h"
#include "funnel/pipeline.h"
#include "test_stages.h"
#include "test_util.h"

namespace funnel {
namespace {
using nlohmann::json;

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Corpus c;
    // 30 docs that all match "guitar", with decreasing term frequency.
    for (int i = 0; i < 30; ++i) {
      std::string id = "d" + std::to_string(i);
      std::string text;
      for (int k = 0; k < 30 - i; ++k) text += "guitar ";
      c.row_of[id] = static_cast<std::uint32_t>(c.docs.size());
      c.docs.push_back(Doc{id, "title " + id, text + "filler words here", {}, "", "", {}, {}});
    }
    build_index(c, tmp_.path() / "i", IndexOptions{});
    index_ = Index::open(tmp_.path() / "i");
  }
  std::string error_of(const json& cfg) {
    return test::error_of([&] { Pipeline p(index_, cfg, "cascade.json"); });
  }
  test::TempDir tmp_;
  std::shared_ptr<const Index> index_;
};

TEST_F(PipelineTest, TraceCountsAndMarks) {
  Pipeline p(index_, default_cascade(20, 8));
  Request req;
  req.query = "guitar";
  req.k = 5;
  req.trace_survivors = true;
  Response r = p.run(req);
  ASSERT_EQ(r.trace.size(), 2u);
  EXPECT_EQ(r.trace[0].name, "recall");
  EXPECT_EQ(r.trace[0].in, 0u);
  EXPECT_EQ(r.trace[0].out, 20u);
  EXPECT_EQ(r.trace[1].name, "truncate");
  EXPECT_EQ(r.trace[1].in, 20u);
  EXPECT_EQ(r.trace[1].out, 8u);
  EXPECT_EQ(r.trace[1].survivors.size(), 8u);
  ASSERT_EQ(r.items.size(), 5u);
  EXPECT_EQ(r.items[0].doc_id, "d0");  // most "guitar" occurrences
  EXPECT_EQ(r.items[0].title, "title d0");
  EXPECT_EQ(r.items[0].channels, std::vector<std::string>{"bm25"});
  ASSERT_EQ(r.items[2].marks.size(), 2u);
  EXPECT_EQ(r.items[2].marks[0].rank, 3u);
  EXPECT_EQ(r.items[2].marks[1].stage, 1u);
  for (std::size_t i = 1; i < r.items.size(); ++i) EXPECT_GE(r.items[i - 1].score, r.items[i].score);
}

TEST_F(PipelineTest, PerRequestOverrides) {
  Pipeline p(index_, default_cascade(20, 8));
  Request req;
  req.query = "guitar";
  req.k = 100;
  req.overrides = {{"recall", {{"quota", {{"bm25", 4}}}}}};
  Response r = p.run(req);
  EXPECT_EQ(r.trace[0].out, 4u);
  EXPECT_EQ(r.items.size(), 4u);
  req.overrides = {{"truncate", {{"keep", 3}}}};
  EXPECT_EQ(p.run(req).items.size(), 3u);
  req.overrides = {{"rerank", {{"keep", 3}}}};
  EXPECT_TRUE(test::contains(test::error_of([&] { p.run(req); }), "request: field 'overrides': no stage named 'rerank'"));
  req.overrides = {{"truncate", {{"keep", -1}}}};
  EXPECT_TRUE(test::contains(test::error_of([&] { p.run(req); }), "field 'keep'"));
  req.overrides = {{"truncate", 3}};
  EXPECT_TRUE(test::contains(test::error_of([&] { p.run(req); }), "field 'overrides.truncate': expected an object"));
}

TEST_F(PipelineTest, BadRequests) {
  Pipeline p(index_, default_cascade());
  Request req;
  req.query = "   ";
  EXPECT_TRUE(test::contains(test::error_of([&] { p.run(req); }), "request: field 'query': empty"));
  req.query = "guitar";
  req.k = 0;
  EXPECT_TRUE(test::contains(test::error_of([&] { p.run(req); }), "request: field 'k'"));
  req.k = 3;
  req.query = std::string("guitar \xff\xfe");
  EXPECT_TRUE(test::contains(test::error_of([&] { p.run(req); }), "invalid UTF-8 at byte 8"));
  req.k = 3;
  req.query = "\"unbalanced quote guitar";  // query syntax errors fall back to plain words
  EXPECT_EQ(p.run(req).items.size(), 3u);
  req.query = "zzzz";
  EXPECT_TRUE(p.run(req).items.empty());
}

TEST_F(PipelineTest, ConfigErrorsNameThePlace) {
  EXPECT_NE(error_of(json::object()).find("cascade.json: field 'stages'"), std::string::npos);
  EXPECT_NE(error_of({{"stages", {{{"type", "nosuch"}}}}}).find("cascade.json: stages[0]: field 'type': unknown stage type 'nosuch'"),
            std::string::npos);
  EXPECT_NE(error_of({{"stages", {{{"type", "truncate"}, {"keep", 5}}}}}).find("first stage must be of type 'recall'"),
            std::string::npos);
  json bad_channel = {{"stages", {{{"type", "recall"}, {"channels", {{{"type", "nochannel"}, {"quota", 5}}}}}}}};
  EXPECT_NE(error_of(bad_channel).find("stages[0]: channels[0]: field 'type': no recall channel 'nochannel'"),
            std::string::npos);
  // This binary links libfunnel_core alone: the model types say what they need.
  json ann = {{"stages", {{{"type", "recall"}, {"channels", {{{"type", "ann"}, {"quota", 5}}}}}}}};
  EXPECT_NE(error_of(ann).find("stages[0]: channels[0]: channel type 'ann' needs the model runtime: link libfunnel"),
            std::string::npos)
      << error_of(ann);
  json rank = default_cascade();
  rank["stages"][1] = {{"type", "rank"}};
  EXPECT_NE(error_of(rank).find("stages[1]: stage type 'rank' needs the model runtime"), std::string::npos)
      << error_of(rank);
  json typo = default_cascade();
  typo["stages"][1]["kep"] = 5;
  EXPECT_NE(error_of(typo).find("stages[1]: unknown field 'kep'"), std::string::npos);
  json dup = default_cascade();
  dup["stages"][1]["name"] = "recall";
  EXPECT_NE(error_of(dup).find("duplicate stage name 'recall'"), std::string::npos);
  json zero = default_cascade();
  zero["stages"][1]["keep"] = 0;
  EXPECT_NE(error_of(zero).find("field 'keep'"), std::string::npos);
}

// A stage registered by name plugs in without touching the pipeline.
class ReverseStage final : public Stage {
 public:
  void run(const StageContext&, std::vector<Candidate>& c) const override {
    std::reverse(c.begin(), c.end());
    for (std::size_t i = 0; i < c.size(); ++i) c[i].score = static_cast<double>(i);
  }
};

TEST_F(PipelineTest, CustomStageTypesRegisterByName) {
  register_stage_type("test_reverse", [](const json&, const Index&, const std::string&) -> std::unique_ptr<Stage> {
    return std::make_unique<ReverseStage>();
  });
  json cfg = default_cascade(10, 10);
  cfg["stages"].push_back({{"name", "flip"}, {"type", "test_reverse"}});
  Pipeline p(index_, cfg);
  Request req;
  req.query = "guitar";
  req.k = 10;
  Response r = p.run(req);
  ASSERT_EQ(r.trace.size(), 3u);
  EXPECT_EQ(r.trace[2].name, "flip");
  EXPECT_EQ(r.items[0].doc_id, "d9");
  EXPECT_EQ(r.items[0].marks[0].rank, 10u);  // it was last after recall
  EXPECT_EQ(r.items[0].marks[2].rank, 1u);
}

void register_test_stages() {
  register_stage_type("test_reverse", [](const json&, const Index&, const std::string&) -> std::unique_ptr<Stage> {
    return std::make_unique<ReverseStage>();
  });
  test::register_sleep_stage();
}

TEST_F(PipelineTest, OptionalStageSkippedByItsDeadline) {
  register_test_stages();
  json cfg = default_cascade(10, 10);
  cfg["stages"].push_back({{"name", "flip"}, {"type", "test_reverse"}, {"optional", true}, {"deadline_ms", 1e-6}});
  Pipeline p(index_, cfg);
  EXPECT_TRUE(p.stage_optional(2));
  EXPECT_FALSE(p.stage_optional(1));
  Request req;
  req.query = "guitar";
  // Recall alone takes longer than a nanosecond: the flip would end late.
  Response r = p.run(req);
  ASSERT_EQ(r.trace.size(), 3u);
  EXPECT_TRUE(r.trace[2].skipped);
  EXPECT_EQ(r.trace[2].in, 10u);
  EXPECT_EQ(r.trace[2].out, 10u);
  ASSERT_EQ(r.trace[2].notes.size(), 1u);
  EXPECT_TRUE(test::contains(r.trace[2].notes[0], "the stage's deadline")) << r.trace[2].notes[0];
  EXPECT_EQ(r.items[0].doc_id, "d0");             // not flipped
  EXPECT_EQ(r.items[0].marks.size(), 2u);         // no mark from the skipped stage
  EXPECT_EQ(response_to_json(r, req)["trace"][2]["skipped"], true);
  // A generous deadline: the stage runs.
  cfg["stages"][2]["deadline_ms"] = 60000;
  Response ran = Pipeline(index_, cfg).run(req);
  EXPECT_FALSE(ran.trace[2].skipped);
  EXPECT_EQ(ran.items[0].doc_id, "d9");
}

TEST_F(PipelineTest, OptionalStageSkippedWhenItWouldPassTheRequestDeadline) {
  register_test_stages();
  json cfg = default_cascade(10, 10);
  cfg["stages"].push_back({{"name", "slow"}, {"type", "test_sleep"}, {"ms", 30}, {"optional", true}});
  Pipeline p(index_, cfg);
  Request req;
  req.query = "guitar";
  EXPECT_FALSE(p.run(req).trace[2].skipped);  // no deadline: it runs, and the pipeline learns it costs 30 ms
  req.deadline_ms = 20;
  Response r = p.run(req);
  EXPECT_TRUE(r.trace[2].skipped);
  EXPECT_TRUE(test::contains(r.trace[2].notes.at(0), "the request's deadline")) << r.trace[2].notes.at(0);
}

TEST_F(PipelineTest, SkipOnRequestOnlyForOptionalStages) {
  register_test_stages();
  json cfg = default_cascade(10, 10);
  cfg["stages"].push_back({{"name", "flip"}, {"type", "test_reverse"}, {"optional", true}});
  Pipeline p(index_, cfg);
  Request req;
  req.query = "guitar";
  req.overrides = {{"flip", {{"skip", true}}}};
  Response r = p.run(req);
  EXPECT_TRUE(r.trace[2].skipped);
  EXPECT_EQ(r.items[0].doc_id, "d0");
  req.overrides = {{"flip", {{"skip", false}}}};
  EXPECT_EQ(p.run(req).items[0].doc_id, "d9");
  req.overrides = {{"truncate", {{"skip", true}}}};
  std::string msg = test::error_of([&] { p.run(req); });
  EXPECT_TRUE(test::contains(msg, "overrides.truncate.skip: stage 'truncate' is not optional")) << msg;
  req.overrides = {{"flip", {{"skip", "yes"}}}};
  msg = test::error_of([&] { p.run(req); });
  EXPECT_TRUE(test::contains(msg, "overrides.flip.skip: expected true or false")) << msg;
}

TEST_F(PipelineTest, PastTheTotalDeadlineIsAnError) {
  register_test_stages();
  json cfg = default_cascade(10, 10);
  cfg["deadline_ms"] = 5;
  cfg["stages"].insert(cfg["stages"].begin() + 1, json{{"name", "slow"}, {"type", "test_sleep"}, {"ms", 20}});
  Pipeline p(index_, cfg);
  EXPECT_EQ(p.deadline_ms(), 5);
  Request req;
  req.query = "guitar";
  try {
    p.run(req);
    FAIL() << "no deadline error";
  } catch (const DeadlineExceeded& e) {
    EXPECT_TRUE(test::contains(e.what(), "past its deadline of 5.00 ms after stage 'slow'")) << e.what();
  }
  req.deadline_ms = 10000;  // the request's own deadline replaces the cascade's
  EXPECT_EQ(p.run(req).items.size(), 10u);
  req.deadline_ms = -1;
  EXPECT_TRUE(test::contains(test::error_of([&] { p.run(req); }), "field 'deadline_ms'"));
}

TEST_F(PipelineTest, OptionalAndDeadlineConfigErrors) {
  json cfg = default_cascade(10, 10);
  cfg["stages"][1]["deadline_ms"] = 5;
  EXPECT_TRUE(test::contains(error_of(cfg), "stages[1]: field 'deadline_ms': only an optional stage")) << error_of(cfg);
  cfg = default_cascade(10, 10);
  cfg["stages"][0]["optional"] = true;
  EXPECT_TRUE(test::contains(error_of(cfg), "the recall stage cannot be optional")) << error_of(cfg);
  cfg = default_cascade(10, 10);
  cfg["stages"][1]["optional"] = "yes";
  EXPECT_TRUE(test::contains(error_of(cfg), "stages[1]: field 'optional': expected true or false")) << error_of(cfg);
  cfg = default_cascade(10, 10);
  cfg["deadline_ms"] = -3;
  EXPECT_TRUE(test::contains(error_of(cfg), "field 'deadline_ms'")) << error_of(cfg);
}

TEST(CascadeConfig, FileErrors) {
  test::TempDir tmp;
  EXPECT_THROW(read_cascade_config(tmp.path() / "missing.json"), Error);
  test::write_file(tmp.path() / "bad.json", "{\"stages\": [");
  try {
    read_cascade_config(tmp.path() / "bad.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: malformed JSON"), std::string::npos);
  }
}

}  // namespace
}  // namespace funnel
