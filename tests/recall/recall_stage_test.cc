// The recall stage: channels with quotas, merged round robin by rank, each
// doc once with every channel's bit and score, the channel-score order key
// with one channel, the per-request quota and keep overrides.
#include <gtest/gtest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "test_util.h"

namespace funnel {
namespace {
using nlohmann::json;

// A channel with fixed answers: rows `hits` in order, scores 100, 99, ...
class FixedChannel final : public RecallChannel {
 public:
  FixedChannel(std::string name, std::vector<std::uint32_t> hits) : name_(std::move(name)), hits_(std::move(hits)) {}
  std::string name() const override { return name_; }
  std::vector<RecallHit> search(std::string_view, std::size_t k) const override {
    std::vector<RecallHit> out;
    for (std::size_t i = 0; i < hits_.size() && i < k; ++i) out.push_back({hits_[i], 100.0 - static_cast<double>(i)});
    return out;
  }

 private:
  std::string name_;
  std::vector<std::uint32_t> hits_;
};

class RecallStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Corpus c;
    for (int i = 0; i < 10; ++i) {
      Doc d;
      d.id = "d" + std::to_string(i);
      d.title = "doc number " + std::to_string(i);
      c.row_of[d.id] = static_cast<std::uint32_t>(i);
      c.docs.push_back(d);
    }
    build_index(c, tmp_.path() / "index", IndexOptions{});
    index_ = Index::open(tmp_.path() / "index");
    register_channel_type("first", [](const Index&, const json&, const std::string&) -> std::unique_ptr<RecallChannel> {
      return std::make_unique<FixedChannel>("first", std::vector<std::uint32_t>{1, 2, 3, 4});
    });
    register_channel_type("second", [](const Index&, const json&, const std::string&) -> std::unique_ptr<RecallChannel> {
      return std::make_unique<FixedChannel>("second", std::vector<std::uint32_t>{3, 5, 1, 6});
    });
  }
  Response run(const json& recall, const json& overrides = json::object()) const {
    Pipeline p(index_, json{{"stages", {recall}}});
    Request r;
    r.query = "doc";
    r.k = 100;
    r.overrides = overrides;
    return p.run(r);
  }
  test::TempDir tmp_;
  std::shared_ptr<const Index> index_;
};

json two_channels(std::size_t q1, std::size_t q2) {
  return {{"name", "recall"},
          {"type", "recall"},
          {"channels", {{{"type", "first"}, {"quota", q1}}, {{"type", "second"}, {"quota", q2}}}}};
}

TEST_F(RecallStageTest, MergesRoundRobinByRankAndKeepsEachDocOnce) {
  const Response r = run(two_channels(4, 4));
  std::vector<std::uint32_t> rows;
  for (const auto& item : r.items) rows.push_back(item.row);
  // Rank 1: first's 1, second's 3; rank 2: 2, 5; rank 3: (3 seen), (1 seen); rank 4: 4, 6.
  EXPECT_EQ(rows, (std::vector<std::uint32_t>{1, 3, 2, 5, 4, 6}));
  std::map<std::uint32_t, std::vector<std::string>> channels;
  for (const auto& item : r.items) channels[item.row] = item.channels;
  EXPECT_EQ(channels[1], (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(channels[3], (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(channels[2], (std::vector<std::string>{"first"}));
  EXPECT_EQ(channels[5], (std::vector<std::string>{"second"}));
  // With several channels the order is the interleaving, as a decreasing score.
  for (std::size_t i = 1; i < r.items.size(); ++i) EXPECT_GT(r.items[i - 1].score, r.items[i].score);
  EXPECT_EQ(r.trace[0].out, 6u);
}

TEST_F(RecallStageTest, OneChannelKeepsItsOwnScores) {
  const Response r = run({{"type", "recall"}, {"channels", {{{"type", "second"}, {"quota", 3}}}}});
  ASSERT_EQ(r.items.size(), 3u);
  EXPECT_EQ(r.items[0].score, 100.0);
  EXPECT_EQ(r.items[2].score, 98.0);
  EXPECT_EQ(r.items[1].row, 5u);
}

TEST_F(RecallStageTest, QuotaAndKeepFromConfigAndRequest) {
  EXPECT_EQ(run(two_channels(1, 1)).items.size(), 2u);  // rows 1 and 3
  json keep = two_channels(4, 4);
  keep["keep"] = 3;
  EXPECT_EQ(run(keep).items.size(), 3u);
  // second's quota 1: its 3 only, which first found too.
  EXPECT_EQ(run(two_channels(4, 4), {{"recall", {{"quota", {{"second", 1}}}}}}).items.size(), 4u);
  EXPECT_EQ(run(two_channels(4, 4), {{"recall", {{"keep", 2}}}}).items.size(), 2u);
  // Quota 0 turns a channel off for the request: first's rows only (1, 2, 3, 4).
  Response off = run(two_channels(4, 4), {{"recall", {{"quota", {{"second", 0}}}}}});
  ASSERT_EQ(off.items.size(), 4u);
  for (const auto& it : off.items) EXPECT_EQ(it.channels, std::vector<std::string>{"first"});
  std::string msg = test::error_of([&] { run(two_channels(4, 4), {{"recall", {{"quota", {{"third", 1}}}}}}); });
  EXPECT_TRUE(test::contains(msg, "no channel named 'third'")) << msg;
  msg = test::error_of([&] { run(two_channels(4, 4), {{"recall", {{"quota", 3}}}}); });
  EXPECT_TRUE(test::contains(msg, "expected an object")) << msg;
}

TEST_F(RecallStageTest, ConfigErrorsNameTheChannel) {
  std::string msg = test::error_of([&] { run(two_channels(0, 4)); });
  EXPECT_TRUE(test::contains(msg, "channels[0]: field 'quota'")) << msg;
  msg = test::error_of([&] { run({{"type", "recall"}, {"channels", {{{"type", "nothing"}}}}}); });
  EXPECT_TRUE(test::contains(msg, "channels[0]: field 'type': no recall channel 'nothing'") && test::contains(msg, "bm25")) << msg;
  msg = test::error_of([&] { run({{"type", "recall"}, {"channels", json::array()}}); });
  EXPECT_TRUE(test::contains(msg, "field 'channels'")) << msg;
  msg = test::error_of([&] { run({{"type", "recall"}, {"channels", {{{"type", "bm25"}, {"weight", 2}}}}}); });
  EXPECT_TRUE(test::contains(msg, "unknown field 'weight'")) << msg;
}

// A stage that records, per candidate row, the bm25 score the fusion of a
// later stage would read (absent: no entry).
class ProbeStage final : public Stage {
 public:
  explicit ProbeStage(std::map<std::uint32_t, float>* seen) : seen_(seen) {}
  void run(const StageContext&, std::vector<Candidate>& cands) const override {
    for (const auto& c : cands) {
      float s = 0;
      if (c.channel_score(channel_bit("bm25"), s)) (*seen_)[c.row] = s;
    }
  }

 private:
  std::map<std::uint32_t, float>* seen_;
};

TEST_F(RecallStageTest, EveryCandidateGetsItsBm25WhicheverChannelFoundIt) {
  static std::map<std::uint32_t, float> seen;
  register_stage_type("bm25-probe", [](const json&, const Index&, const std::string&) -> std::unique_ptr<Stage> {
    return std::make_unique<ProbeStage>(&seen);
  });
  auto run_probe = [&](bool fill) {
    seen.clear();
    json recall = {{"name", "recall"},
                   {"type", "recall"},
                   {"channels", {{{"type", "bm25"}, {"quota", 2}}, {{"type", "first"}, {"quota", 4}}}}};
    if (!fill) recall["fill_channel_scores"] = false;
    Pipeline p(index_, json{{"stages", {recall, {{"name", "probe"}, {"type", "bm25-probe"}}}}});
    Request r;
    r.query = "doc 5";
    r.k = 100;
    return p.run(r);
  };
  // BM25's own scores of every doc for this query.
  std::map<std::uint32_t, float> truth;
  for (const auto& h : index_->channel("bm25")->search("doc 5", 100)) truth[h.row] = static_cast<float>(h.score);
  ASSERT_EQ(truth.size(), 10u);

  const Response r = run_probe(true);
  ASSERT_EQ(r.items.size(), 6u);  // BM25's top 2 (d5 first) and first's 1..4
  std::size_t only_first = 0;
  for (const auto& item : r.items) {
    ASSERT_TRUE(seen.count(item.row)) << "row " << item.row << " has no bm25 score";
    EXPECT_EQ(seen[item.row], truth[item.row]) << "row " << item.row;
    if (item.channels == std::vector<std::string>{"first"}) ++only_first;  // bits still say who found it
  }
  EXPECT_GE(only_first, 3u);
  EXPECT_GT(seen[5], seen[1]);  // d5 holds both query words

  run_probe(false);  // the option off: docs BM25 did not find have no score
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_TRUE(test::contains(test::error_of([&] {
                               Pipeline(index_, json{{"stages", {{{"type", "recall"},
                                                                  {"channels", {{{"type", "bm25"}}}},
                                                                  {"fill_channel_scores", 1}}}}});
                             }),
                             "field 'fill_channel_scores': expected true or false"));
}

TEST(ChannelBits, OneBitPerNameForTheProcess) {
  const std::uint32_t a = channel_bit("bits-test-a"), b = channel_bit("bits-test-b");
  EXPECT_NE(a, b);
  EXPECT_EQ(channel_bit("bits-test-a"), a);
  EXPECT_EQ(channel_name_of_bit(b), "bits-test-b");
  EXPECT_EQ(channel_name_of_bit(31), "?");
  // At most 32 names: the 33rd is refused.
  std::string msg = "<no funnel::Error thrown>";
  for (int i = 0; i < 40 && test::contains(msg, "no funnel::Error"); ++i)
    msg = test::error_of([&] { channel_bit("bits-test-" + std::to_string(i)); });
  EXPECT_TRUE(test::contains(msg, "at most 32")) << msg;
}

}  // namespace
}  // namespace funnel
