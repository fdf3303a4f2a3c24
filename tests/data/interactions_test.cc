// Interaction logs: TSV and JSONL readers (exact round trips, every bad input
// refused naming file:line and the field), parts of one log, the three
// splits of feed.json, the engagement grade, Doc.published, and the import
// of "user item" pair files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "funnel/data.h"
#include "funnel/error.h"
#include "funnel/interactions.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;

// A corpus of the given ids, in order.
Corpus make_corpus(const std::vector<std::string>& ids) {
  Corpus c;
  for (const auto& id : ids) {
    c.row_of.emplace(id, static_cast<std::uint32_t>(c.docs.size()));
    Doc d;
    d.id = id;
    c.docs.push_back(d);
  }
  return c;
}

const Corpus& corpus5() {
  static const Corpus c = make_corpus({"d1", "d2", "d3", "d4", "d5"});
  return c;
}

// The error message of reading `content` as TMP/`name` ("" if none).
std::string read_error(const std::string& name, const std::string& content) {
  test::TempDir tmp;
  test::write_file(tmp.path() / name, content);
  return test::error_of([&] { read_interactions(tmp.path() / name, corpus5()); });
}

TEST(ReadInteractions, TsvColumnsTimeAndSignals) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "log.tsv",
                   "user\titem\ttime\tclick\twatch\n"
                   "u1\td2\t100\t1\t0.25\n"
                   "\n"
                   "u2\td1\t-5\t0\t0\n"
                   "u1\td5\t9000000000\t1\t1e-3\r\n");
  Interactions log = read_interactions(tmp.path() / "log.tsv", corpus5());
  ASSERT_EQ(log.rows.size(), 3u);
  EXPECT_TRUE(log.has_time);
  EXPECT_EQ(log.signal_names, (std::vector<std::string>{"click", "watch"}));
  EXPECT_EQ(log.user_ids, (std::vector<std::string>{"u1", "u2"}));
  EXPECT_EQ(log.user_row.at("u2"), 1u);
  EXPECT_EQ(log.rows[0].user, 0u);
  EXPECT_EQ(log.rows[0].item, 1u);
  EXPECT_EQ(log.rows[1].time, -5);
  EXPECT_EQ(log.rows[2].time, 9000000000);
  EXPECT_EQ(log.rows[2].user, 0u);
  EXPECT_FLOAT_EQ(log.signal(0, 1), 0.25f);
  EXPECT_FLOAT_EQ(log.signal(2, 1), 0.001f);
  EXPECT_EQ(log.signal_index("watch"), 1);
  EXPECT_EQ(log.signal_index("like"), -1);
}

TEST(ReadInteractions, TsvWithoutTimeOrSignals) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "log.tsv", "user\titem\nu1\td3\n");
  Interactions log = read_interactions(tmp.path() / "log.tsv", corpus5());
  EXPECT_FALSE(log.has_time);
  EXPECT_EQ(log.n_signals(), 0u);
  ASSERT_EQ(log.rows.size(), 1u);
  EXPECT_EQ(log.rows[0].time, Interaction::kNoTime);
  EXPECT_TRUE(log.signals.empty());
}

// The values the world writes (0/1 flags, watch fractions rounded to 1/1000,
// times in seconds) come back bit for bit.
TEST(ReadInteractions, TsvRoundTripIsExact) {
  for (bool with_time : {true, false}) {
    Interactions log;
    log.signal_names = {"click", "watch", "like"};
    log.has_time = with_time;
    for (int i = 0; i < 1000; ++i) {
      Interaction row;
      row.user = log.add_user("u" + std::to_string(i % 37));
      row.item = static_cast<std::uint32_t>(i % 5);
      if (with_time) row.time = 1700000000LL + i * 7919LL - 500000;
      log.rows.push_back(row);
      log.signals.push_back(static_cast<float>(i % 2));
      log.signals.push_back(static_cast<float>(i) / 1000.0f);  // 0, 0.001, ..., 0.999
      log.signals.push_back(i == 999 ? 1.0f : 0.0f);
    }
    test::TempDir tmp;
    write_interactions_tsv(tmp.path() / "log.tsv", log, corpus5());
    EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1)
        << "no temporary file left";
    Interactions back = read_interactions(tmp.path() / "log.tsv", corpus5());
    EXPECT_EQ(back.signal_names, log.signal_names);
    EXPECT_EQ(back.user_ids, log.user_ids);
    EXPECT_EQ(back.has_time, with_time);
    ASSERT_EQ(back.rows.size(), log.rows.size());
    for (std::size_t i = 0; i < log.rows.size(); ++i) {
      EXPECT_EQ(back.rows[i].user, log.rows[i].user);
      EXPECT_EQ(back.rows[i].item, log.rows[i].item);
      EXPECT_EQ(back.rows[i].time, log.rows[i].time);
    }
    ASSERT_EQ(back.signals.size(), log.signals.size());
    EXPECT_EQ(std::memcmp(back.signals.data(), log.signals.data(), log.signals.size() * sizeof(float)), 0);
    if (with_time) {
      EXPECT_EQ(test::read_file(tmp.path() / "log.tsv").substr(0, 82),
                "user\titem\ttime\tclick\twatch\tlike\nu0\td1\t1699500000\t0\t0\t0\nu1\td2\t1699507919\t1\t0.001\t0\n");
    }
  }
}

TEST(ReadInteractions, JsonlUnionOfSignalsMissingOnesReadZero) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "log.jsonl",
                   R"({"user": "u1", "item": "d1", "time": 5, "signals": {"watch": 0.5, "click": 1}})" "\n"
                   "\n"
                   R"({"user": 7, "item": "d2", "time": 6, "signals": {"like": 1}})" "\n"
                   R"({"user": "u1", "item": "d3", "time": 7})" "\n");
  Interactions log = read_interactions(tmp.path() / "log.jsonl", corpus5());
  EXPECT_EQ(log.signal_names, (std::vector<std::string>{"click", "like", "watch"}));  // sorted by name
  EXPECT_TRUE(log.has_time);
  EXPECT_EQ(log.user_ids, (std::vector<std::string>{"u1", "7"}));
  ASSERT_EQ(log.rows.size(), 3u);
  EXPECT_EQ(log.signals, (std::vector<float>{1, 0, 0.5f, 0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(log.rows[2].time, 7);

  // Through TSV and back: the same log.
  write_interactions_tsv(tmp.path() / "log.tsv", log, corpus5());
  Interactions back = read_interactions(tmp.path() / "log.tsv", corpus5());
  EXPECT_EQ(back.signal_names, log.signal_names);
  EXPECT_EQ(back.user_ids, log.user_ids);
  EXPECT_EQ(back.signals, log.signals);
  for (std::size_t i = 0; i < log.rows.size(); ++i) EXPECT_EQ(back.rows[i].time, log.rows[i].time);
}

TEST(ReadInteractions, JsonlWithoutTime) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "log.jsonl", R"({"user": "u1", "item": "d1", "signals": {}})" "\n"
                                             R"({"user": "u2", "item": "d4"})" "\n");
  Interactions log = read_interactions(tmp.path() / "log.jsonl", corpus5());
  EXPECT_FALSE(log.has_time);
  EXPECT_EQ(log.rows.size(), 2u);
  EXPECT_EQ(log.rows[1].time, Interaction::kNoTime);
}

// Every bad input: the exact place (file:line) and field in the message.
TEST(ReadInteractions, EveryBadInputNamesFileLineAndField) {
  const std::string h = "user\titem\ttime\tclick\tlike\n";
  const std::string ok = "u1\td1\t10\t1\t0\n";
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"a.tsv", h + ok + "u1\td1\t10\t1\n",
       "a.tsv:3: expected 5 tab-separated fields (user, item, time, click, like), got 4"},
      {"a.tsv", h + ok + "u1\td1\t10\t1\t0\t1\n",
       "a.tsv:3: expected 5 tab-separated fields (user, item, time, click, like), got 6"},
      {"a.tsv", h + ok + "\n\n" + "u2\td9\t10\t1\t0\n", "a.tsv:5: field 'item': 'd9' is not in the corpus"},
      {"a.tsv", h + "u1\t\t10\t1\t0\n", "a.tsv:2: field 'item': empty"},
      {"a.tsv", h + "\td1\t10\t1\t0\n", "a.tsv:2: field 'user': empty"},
      {"a.tsv", h + "u 1\td1\t10\t1\t0\n", "a.tsv:2: field 'user': id 'u 1' contains whitespace"},
      {"a.tsv", h + ok + "u1\td1\t10\tx\t0\n", "a.tsv:3: field 'click': expected a number, got 'x'"},
      {"a.tsv", h + "u1\td1\t10\t1\t 1\n", "a.tsv:2: field 'like': expected a number, got ' 1'"},
      {"a.tsv", h + "u1\td1\t10\t1\t1x\n", "a.tsv:2: field 'like': expected a number, got '1x'"},
      {"a.tsv", h + "u1\td1\t10\t1\t\n", "a.tsv:2: field 'like': expected a number, got ''"},
      {"a.tsv", h + "u1\td1\t10\tnan\t0\n", "a.tsv:2: field 'click': expected a finite number (within float range), got 'nan'"},
      {"a.tsv", h + "u1\td1\t10\t-inf\t0\n", "a.tsv:2: field 'click': expected a finite number"},
      {"a.tsv", h + "u1\td1\t10\t1e39\t0\n", "a.tsv:2: field 'click': expected a finite number"},
      {"a.tsv", h + "u1\td1\tnoon\t1\t0\n", "a.tsv:2: field 'time': expected an integer (seconds, 64 bits), got 'noon'"},
      {"a.tsv", h + "u1\td1\t1.5\t1\t0\n", "a.tsv:2: field 'time': expected an integer"},
      {"a.tsv", h + "u1\td1\t99999999999999999999\t1\t0\n", "a.tsv:2: field 'time': expected an integer"},
      {"a.tsv", h + "u1\td1\t-9223372036854775808\t1\t0\n", "a.tsv:2: field 'time': expected an integer"},
      {"a.tsv", "user\titem\ttime\tclick\tclick\n" + ok, "a.tsv:1: header column 5: duplicate signal name 'click'"},
      {"a.tsv", "user\titem\tclick\t\n", "a.tsv:1: header column 4: empty signal name"},
      {"a.tsv", "user\titem\tclick\ttime\n", "a.tsv:1: header column 4: 'time' is a column of its own"},
      {"a.tsv", "item\tuser\tclick\n", "a.tsv:1: expected a header line naming the columns"},
      {"a.tsv", "u1\td1\t1\n", "a.tsv:1: expected a header line naming the columns"},
      {"a.tsv", "\n\n", "a.tsv: empty file"},
      {"a.tsv", h + "u\xff\td1\t10\t1\t0\n", "a.tsv:2: invalid UTF-8 at byte 2"},
      {"a.jsonl", R"({"user": "u1", "item": "d1", "time": 1})" "\n" R"({"user": "u1", "item": "d2", "time": 2})" "\n"
                  R"({"user": "u2", "item": "d2"})" "\n",
       "a.jsonl:3: field 'time': missing, but line 1 has a time (a log has times on all rows or none)"},
      {"a.jsonl", R"({"user": "u1", "item": "d1"})" "\n" R"({"user": "u1", "item": "d2", "time": 2})" "\n",
       "a.jsonl:2: field 'time': a time, but line 1 has none"},
      {"a.jsonl", R"({"user": "u1", "item": "d1", "time": "now"})" "\n",
       "a.jsonl:1: field 'time': expected an integer, got string"},
      {"a.jsonl", R"({"user": "u1", "item": "d9"})" "\n", "a.jsonl:1: field 'item': 'd9' is not in the corpus"},
      {"a.jsonl", R"({"item": "d1"})" "\n", "a.jsonl:1: field 'user': missing"},
      {"a.jsonl", R"({"user": "", "item": "d1"})" "\n", "a.jsonl:1: field 'user': empty id"},
      {"a.jsonl", R"({"user": "u1", "item": "d1", "signals": {"click": "1"}})" "\n",
       "a.jsonl:1: field 'signals.click': expected a number, got string"},
      {"a.jsonl", R"({"user": "u1", "item": "d1", "signals": {"click": 1e300}})" "\n",
       "a.jsonl:1: field 'signals.click': out of float range"},
      {"a.jsonl", R"({"user": "u1", "item": "d1", "signals": {"time": 1}})" "\n",
       "a.jsonl:1: field 'signals.time': 'time' is a column of its own"},
      {"a.jsonl", R"({"user": "u1", "item": "d1", "signals": [1]})" "\n",
       "a.jsonl:1: field 'signals': expected an object"},
      {"a.jsonl", R"({"user": "u1", "item": "d1"})" "\n{\n", "a.jsonl:2: malformed JSON"},
      {"a.csv", "user,item\n", "a.csv: unknown log format"},
  };
  for (const auto& [name, content, expected] : cases) {
    const std::string err = read_error(name, content);
    EXPECT_TRUE(test::contains(err, expected)) << "expected '" << expected << "' in: " << err;
  }
}

TEST(ReadInteractions, LaterPartsShareUsersAndMapSignalsByName) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "train.tsv", "user\titem\ttime\tclick\tlike\nu1\td1\t1\t1\t0\nu2\td2\t2\t0\t1\n");
  test::write_file(tmp.path() / "dev.tsv", "user\titem\ttime\tlike\tclick\nu3\td3\t3\t1\t0\nu1\td4\t4\t0.5\t1\n");
  test::write_file(tmp.path() / "test.jsonl", R"({"user": "u2", "item": "d5", "time": 5, "signals": {"like": 1}})" "\n");
  Interactions log;
  read_interactions(tmp.path() / "train.tsv", corpus5(), log);
  read_interactions(tmp.path() / "dev.tsv", corpus5(), log);
  read_interactions(tmp.path() / "test.jsonl", corpus5(), log);
  EXPECT_EQ(log.signal_names, (std::vector<std::string>{"click", "like"}));
  EXPECT_EQ(log.user_ids, (std::vector<std::string>{"u1", "u2", "u3"}));
  ASSERT_EQ(log.rows.size(), 5u);
  EXPECT_EQ(log.rows[3].user, 0u);  // u1 again
  EXPECT_EQ(log.rows[4].user, 1u);  // u2 again
  EXPECT_EQ(log.signals, (std::vector<float>{1, 0, 0, 1, 0, 1, 1, 0.5f, 0, 1}));
}

TEST(ReadInteractions, LaterPartMustAgreeAndAFailedReadChangesNothing) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "train.tsv", "user\titem\ttime\tclick\tlike\nu1\td1\t1\t1\t0\n");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"dev.tsv", "user\titem\ttime\tclick\twatch\nu2\td2\t2\t1\t0\n"},
      {"dev.tsv", "user\titem\ttime\tclick\nu2\td2\t2\t1\n"},
      {"dev.tsv", "user\titem\tclick\tlike\nu2\td2\t1\t0\n"},
      {"dev.tsv", "user\titem\ttime\tclick\tlike\nu2\td2\t2\t1\t0\nu3\td9\t2\t1\t0\n"},
      {"dev.jsonl", R"({"user": "u2", "item": "d2", "time": 2, "signals": {"watch": 1}})" "\n"},
      {"dev.jsonl", R"({"user": "u2", "item": "d2", "signals": {"click": 1}})" "\n"},
  };
  const std::vector<std::string> expected = {
      "dev.tsv:1: signals (click, watch) differ from those of the earlier part of the log (click, like)",
      "dev.tsv:1: signals (click) differ from those of the earlier part of the log (click, like)",
      "dev.tsv:1: no 'time' column, but the earlier part of the log has times",
      "dev.tsv:3: field 'item': 'd9' is not in the corpus",
      "dev.jsonl:1: field 'signals.watch': not a signal of the earlier part of the log (click, like)",
      "dev.jsonl:1: field 'time': missing, but the earlier part of the log has a time",
  };
  for (std::size_t k = 0; k < cases.size(); ++k) {
    Interactions log;
    read_interactions(tmp.path() / "train.tsv", corpus5(), log);
    test::write_file(tmp.path() / cases[k].first, cases[k].second);
    const std::string err = test::error_of([&] { read_interactions(tmp.path() / cases[k].first, corpus5(), log); });
    EXPECT_TRUE(test::contains(err, expected[k])) << "expected '" << expected[k] << "' in: " << err;
    EXPECT_EQ(log.rows.size(), 1u) << expected[k];
    EXPECT_EQ(log.signals.size(), 2u) << expected[k];
    EXPECT_EQ(log.user_ids, std::vector<std::string>{"u1"}) << expected[k];
    EXPECT_EQ(log.user_row.size(), 1u) << expected[k];
    EXPECT_EQ(log.signal_names, (std::vector<std::string>{"click", "like"})) << expected[k];
  }
}

// ---- feed.json ----------------------------------------------------------------

// DATA/feed/feed.json = `feed_json`, DATA/feed/<name> = content for each file.
fs::path make_feed(const fs::path& data, const std::string& feed_json,
                   const std::vector<std::pair<std::string, std::string>>& files) {
  test::write_file(data / "feed" / "feed.json", feed_json);
  for (const auto& [name, content] : files) test::write_file(data / "feed" / name, content);
  return data;
}

std::vector<LogPart> parts(std::initializer_list<int> p) {
  std::vector<LogPart> out;
  for (int x : p) out.push_back(static_cast<LogPart>(x));
  return out;
}

TEST(FeedLog, SplitByTimeAtTheBoundaries) {
  test::TempDir tmp;
  const std::string log =
      "user\titem\ttime\tclick\nu1\td1\t10\t1\nu1\td2\t19\t0\nu1\td3\t20\t1\nu2\td1\t29\t0\nu2\td2\t30\t1\nu2\td3\t99\t0\n";
  make_feed(tmp.path(), R"({"log": "log.tsv", "split": {"dev_from": 20, "test_from": 30}, "days": {"day_seconds": 86400}})",
            {{"log.tsv", log}});
  FeedLog f = load_feed_log(tmp.path(), corpus5());
  EXPECT_EQ(f.part, parts({0, 0, 1, 1, 2, 2}));
  EXPECT_EQ(f.dev_from, 20);
  EXPECT_EQ(f.test_from, 30);
  EXPECT_EQ(f.meta["days"]["day_seconds"], 86400);

  // dev_from == test_from: no dev part.
  make_feed(tmp.path(), R"({"log": "log.tsv", "split": {"dev_from": 20, "test_from": 20}})", {});
  EXPECT_EQ(load_feed_log(tmp.path(), corpus5()).part, parts({0, 0, 2, 2, 2, 2}));

  make_feed(tmp.path(), R"({"log": "log.tsv", "split": {"dev_from": 30, "test_from": 20}})", {});
  EXPECT_TRUE(test::contains(test::error_of([&] { load_feed_log(tmp.path(), corpus5()); }),
                             "feed.json: field 'split': expected dev_from <= test_from, got 30 > 20"));
  make_feed(tmp.path(), R"({"log": "notime.tsv", "split": {"dev_from": 20, "test_from": 30}})",
            {{"notime.tsv", "user\titem\tclick\nu1\td1\t1\n"}});
  EXPECT_TRUE(test::contains(test::error_of([&] { load_feed_log(tmp.path(), corpus5()); }),
                             "a split by time needs a log with times"));
  make_feed(tmp.path(), R"({"log": "log.tsv", "split": {"dev_from": 20}})", {});
  EXPECT_TRUE(test::contains(test::error_of([&] { load_feed_log(tmp.path(), corpus5()); }),
                             "feed.json: field 'split': field 'test_from': missing"));
}

TEST(FeedLog, SplitByGivenFiles) {
  test::TempDir tmp;
  make_feed(tmp.path(), R"({"split": {"train": "train.tsv", "dev": "dev.tsv", "test": "test.jsonl"}, "exclude": "click"})",
            {{"train.tsv", "user\titem\tclick\tlike\nu1\td1\t1\t0\nu2\td2\t0\t0\n"},
             {"dev.tsv", "user\titem\tlike\tclick\nu2\td3\t0\t1\n"},
             {"test.jsonl", R"({"user": "u1", "item": "d4", "signals": {"like": 1}})" "\n"
                            R"({"user": "u3", "item": "d5"})" "\n"}});
  FeedLog f = load_feed_log(tmp.path(), corpus5());
  EXPECT_EQ(f.part, parts({0, 0, 1, 2, 2}));
  EXPECT_EQ(f.log.user_ids, (std::vector<std::string>{"u1", "u2", "u3"}));
  EXPECT_EQ(f.log.rows[2].user, 1u);
  EXPECT_EQ(f.exclude, "click");
  EXPECT_TRUE(f.excludes(0));
  EXPECT_FALSE(f.excludes(3));  // like only
  EXPECT_EQ(f.dev_from, Interaction::kNoTime);

  // Without dev and test: all train. With "log" as well: refused.
  make_feed(tmp.path(), R"({"split": {"train": "train.tsv"}})", {});
  EXPECT_EQ(load_feed_log(tmp.path(), corpus5()).part, parts({0, 0}));
  make_feed(tmp.path(), R"({"log": "train.tsv", "split": {"train": "train.tsv"}})", {});
  EXPECT_TRUE(test::contains(test::error_of([&] { load_feed_log(tmp.path(), corpus5()); }),
                             "feed.json: field 'log': not used with a split by files"));
  // A part's error names its file.
  make_feed(tmp.path(), R"({"split": {"train": "train.tsv", "dev": "bad.tsv"}})",
            {{"bad.tsv", "user\titem\tclick\nu1\td1\t1\n"}});
  EXPECT_TRUE(test::contains(test::error_of([&] { load_feed_log(tmp.path(), corpus5()); }),
                             "bad.tsv:1: signals (click) differ from those of the earlier part of the log (click, like)"));
}

// A log without time: user a has 10 rows, b 3, c 2 (not more than dev + test).
std::string random_log(bool with_user_d) {
  std::string s = "user\titem\tclick\n";
  for (int i = 0; i < 10; ++i) s += "a\td" + std::to_string(i % 5 + 1) + "\t" + std::to_string(i) + "\n";
  if (with_user_d)
    for (int i = 0; i < 6; ++i) s += "d\td" + std::to_string(i % 5 + 1) + "\t1\n";
  for (int i = 0; i < 3; ++i) s += "b\td" + std::to_string(i + 1) + "\t1\n";
  for (int i = 0; i < 2; ++i) s += "c\td" + std::to_string(i + 1) + "\t1\n";
  return s;
}

std::map<std::string, std::vector<LogPart>> parts_by_user(const FeedLog& f) {
  std::map<std::string, std::vector<LogPart>> out;
  for (std::size_t i = 0; i < f.log.rows.size(); ++i) out[f.log.user_ids[f.log.rows[i].user]].push_back(f.part[i]);
  return out;
}

TEST(FeedLog, RandomSplitPerUserIsDeterministic) {
  test::TempDir tmp;
  auto load = [&](int seed, bool with_user_d) {
    make_feed(tmp.path(),
              R"({"log": "log.tsv", "split": {"random": {"seed": )" + std::to_string(seed) + R"(, "dev": 1, "test": 1}}})",
              {{"log.tsv", random_log(with_user_d)}});
    return load_feed_log(tmp.path(), corpus5());
  };
  const FeedLog f = load(7, false);
  for (const auto& [user, p] : parts_by_user(f)) {
    const auto dev = std::count(p.begin(), p.end(), LogPart::kDev);
    const auto test = std::count(p.begin(), p.end(), LogPart::kTest);
    if (user == "c") {
      EXPECT_EQ(dev + test, 0) << "a user with dev + test rows or fewer keeps them all in train";
    } else {
      EXPECT_EQ(dev, 1) << user;
      EXPECT_EQ(test, 1) << user;
    }
  }
  EXPECT_EQ(load(7, false).part, f.part) << "the same seed gives the same split";
  // Another user in the file does not move the others' held-out rows.
  EXPECT_EQ(parts_by_user(load(7, true))["a"], parts_by_user(f)["a"]);
  EXPECT_EQ(parts_by_user(load(7, true))["b"], parts_by_user(f)["b"]);
  bool differs = false;
  for (int seed = 1; seed <= 5; ++seed) differs |= load(seed, false).part != f.part;
  EXPECT_TRUE(differs) << "other seeds, other splits";

  make_feed(tmp.path(), R"({"log": "log.tsv", "split": {"random": {"seed": 1, "dev": 1}}})", {});
  EXPECT_TRUE(test::contains(test::error_of([&] { load_feed_log(tmp.path(), corpus5()); }),
                             "feed.json: field 'split': field 'random': field 'test': missing"));
  make_feed(tmp.path(), R"({"log": "log.tsv", "split": {"random": {"seed": -1, "dev": 1, "test": 1}}})", {});
  EXPECT_TRUE(test::contains(test::error_of([&] { load_feed_log(tmp.path(), corpus5()); }),
                             "field 'seed': expected an integer >= 0"));
}

TEST(FeedLog, GradeAndExcludes) {
  test::TempDir tmp;
  const std::string log = "user\titem\tclick\twatch\tlike\nu1\td1\t1\t0.5\t0\nu1\td2\t0\t0\t0\nu2\td3\t0\t0\t1\n";
  make_feed(tmp.path(), R"({"log": "log.tsv", "split": {"dev_from": 0, "test_from": 0}})", {{"log.tsv", log}});
  const std::string err = test::error_of([&] { load_feed_log(tmp.path(), corpus5()); });
  EXPECT_TRUE(test::contains(err, "a split by time needs a log with times")) << err;

  make_feed(tmp.path(), R"({"log": "log.tsv", "split": {"random": {"seed": 1, "dev": 0, "test": 0}}})", {});
  FeedLog f = load_feed_log(tmp.path(), corpus5());  // default: every signal weighs 1; exclude "engaged"
  EXPECT_EQ(f.grade_weights.size(), 3u);
  EXPECT_FLOAT_EQ(f.grade(0), 1.5f);
  EXPECT_FLOAT_EQ(f.grade(1), 0.0f);
  EXPECT_FLOAT_EQ(f.grade(2), 1.0f);
  EXPECT_EQ(f.exclude, "engaged");
  EXPECT_TRUE(f.excludes(0));
  EXPECT_FALSE(f.excludes(1));
  EXPECT_TRUE(f.excludes(2));
  EXPECT_EQ(f.part, parts({0, 0, 0}));

  make_feed(tmp.path(),
            R"({"log": "log.tsv", "split": {"random": {"seed": 1, "dev": 0, "test": 0}}, "grade": {"watch": 2, "like": 3}, "exclude": "click"})",
            {});
  f = load_feed_log(tmp.path(), corpus5());
  EXPECT_FLOAT_EQ(f.grade(0), 1.0f);
  EXPECT_FLOAT_EQ(f.grade(2), 3.0f);
  EXPECT_EQ(f.grades(), (std::vector<float>{1.0f, 0.0f, 3.0f}));
  EXPECT_TRUE(f.excludes(0));
  EXPECT_FALSE(f.excludes(2));  // liked, but not clicked
  EXPECT_EQ(f.meta["exclude"], "click");

  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"log": "log.tsv", "split": {"random": {"seed": 1, "dev": 0, "test": 0}}, "grade": {"share": 1}})",
       "feed.json: field 'grade': 'share' is not a signal of the log (click, watch, like)"},
      {R"({"log": "log.tsv", "split": {"random": {"seed": 1, "dev": 0, "test": 0}}, "grade": {"like": "high"}})",
       "feed.json: field 'grade': 'like': expected a finite number"},
      {R"({"log": "log.tsv", "split": {"random": {"seed": 1, "dev": 0, "test": 0}}, "grade": {}})",
       "feed.json: field 'grade': expected an object {SIGNAL: weight}"},
      {R"({"log": "log.tsv", "split": {"random": {"seed": 1, "dev": 0, "test": 0}}, "exclude": "share"})",
       "feed.json: field 'exclude': expected \"engaged\" or a signal of the log (click, watch, like), got 'share'"},
      {R"({"log": "log.tsv", "split": {"random": {"seed": 1, "dev": 0, "test": 0}}, "colour": 1})",
       "feed.json: unknown field 'colour'"},
      {R"({"split": {"random": {"seed": 1, "dev": 0, "test": 0}}})", "feed.json: field 'log': expected a non-empty string"},
      {R"({"log": "log.tsv"})", "feed.json: field 'split': missing"},
      {R"({"log": "log.tsv", "split": {"by": "day"}})", "feed.json: field 'split': expected {\"dev_from\""},
      {R"({"log": "log.tsv", "split": {"dev_from": 1, "test_from": 2, "seed": 3}})",
       "feed.json: field 'split': unknown field 'seed'"},
      {R"({"log": "log.tsv", "split": {"random": {"seed": 1, "dev": 0, "test": 0}}, "days": 3})",
       "feed.json: field 'days': expected an object"},
      {R"({"log": "missing.tsv", "split": {"random": {"seed": 1, "dev": 0, "test": 0}}})", "missing.tsv: file not found"},
      {R"({"log": "log.tsv", )", "feed.json: malformed JSON"},
  };
  for (const auto& [json, expected] : bad) {
    make_feed(tmp.path(), json, {});
    const std::string e = test::error_of([&] { load_feed_log(tmp.path(), corpus5()); });
    EXPECT_TRUE(test::contains(e, expected)) << "expected '" << expected << "' in: " << e;
  }
  EXPECT_TRUE(test::contains(test::error_of([&] { load_feed_log(tmp.path() / "nowhere", corpus5()); }),
                             "feed.json: file not found"));
}

// ---- Doc.published --------------------------------------------------------------

TEST(ReadCorpus, PublishedIsAnOptionalInteger) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "corpus.jsonl", R"({"id": "a", "published": 1700000000})" "\n"
                                                R"({"id": "b"})" "\n"
                                                R"({"id": "c", "published": -86400})" "\n"
                                                R"({"id": "e", "published": null})" "\n");
  Corpus c = read_corpus(tmp.path() / "corpus.jsonl");
  EXPECT_EQ(c.docs[0].published, std::optional<std::int64_t>(1700000000));
  EXPECT_FALSE(c.docs[1].published.has_value());
  EXPECT_EQ(c.docs[2].published, std::optional<std::int64_t>(-86400));
  EXPECT_FALSE(c.docs[3].published.has_value());

  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"id": "b", "published": "2024-01-01"})", "corpus.jsonl:2: field 'published': expected an integer, got string"},
      {R"({"id": "b", "published": 1.5})", "corpus.jsonl:2: field 'published': expected an integer, got number"},
      {R"({"id": "b", "published": 18446744073709551615})",
       "corpus.jsonl:2: field 'published': expected an integer that fits 64 bits"},
  };
  for (const auto& [line, expected] : bad) {
    test::write_file(tmp.path() / "corpus.jsonl", R"({"id": "a"})" "\n" + line + "\n");
    const std::string e = test::error_of([&] { read_corpus(tmp.path() / "corpus.jsonl"); });
    EXPECT_TRUE(test::contains(e, expected)) << "expected '" << expected << "' in: " << e;
  }
}

// ---- import_pairs -----------------------------------------------------------------

// Tiny pair files: user 1 bought 10 and 2, carted 2 and 3; valid (1, 10) is
// in buy; test (2, 4).
struct PairFiles {
  test::TempDir tmp;
  PairsImport spec;
  PairFiles() {
    test::write_file(tmp.path() / "in" / "buy.txt", "1 10\n1 2\n1 10\n\n12 3\n");
    test::write_file(tmp.path() / "in" / "cart.txt", "1 2\r\n1 3\n12\t3\n");
    test::write_file(tmp.path() / "in" / "valid.txt", "1 10\n");
    test::write_file(tmp.path() / "in" / "test.txt", "2 4\n12 2\n");
    spec.train = {{"purchase", tmp.path() / "in" / "buy.txt"}, {"cart", tmp.path() / "in" / "cart.txt"}};
    spec.dev = tmp.path() / "in" / "valid.txt";
    spec.test = tmp.path() / "in" / "test.txt";
  }
};

TEST(ImportPairs, MergesBehavioursAndHoldsOutDev) {
  PairFiles in;
  const fs::path out = in.tmp.path() / "out";
  PairsImportStats st = import_pairs(in.spec, out, false);
  EXPECT_EQ(st.users, 3u);  // 1, 12, 2
  EXPECT_EQ(st.items, 4u);  // 10, 2, 3, 4
  EXPECT_EQ(st.train_rows, 3u);
  EXPECT_EQ(st.dev_rows, 1u);
  EXPECT_EQ(st.test_rows, 2u);
  EXPECT_EQ(st.removed_from_train, 1u);
  // Sorted numerically; (1, 2) in buy and cart: one row; (1, 10) held out.
  EXPECT_EQ(test::read_file(out / "feed" / "train.tsv"),
            "user\titem\tpurchase\tcart\n1\t2\t1\t1\n1\t3\t0\t1\n12\t3\t1\t1\n");
  EXPECT_EQ(test::read_file(out / "feed" / "dev.tsv"), "user\titem\tpurchase\tcart\n1\t10\t1\t0\n");
  EXPECT_EQ(test::read_file(out / "feed" / "test.tsv"), "user\titem\tpurchase\tcart\n2\t4\t1\t0\n12\t2\t1\t0\n");
  Corpus corpus = read_corpus(out / "corpus.jsonl");
  std::vector<std::string> ids;
  for (const auto& d : corpus.docs) ids.push_back(d.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"2", "3", "4", "10"}));
  EXPECT_EQ(test::read_file(out / "corpus.jsonl").substr(0, 34), R"({"_id":"2","title":"","text":""})" "\n{");

  // The folder loads as a feed: the split by files, purchases excluded.
  FeedLog f = load_feed_log(out, corpus);
  EXPECT_EQ(f.part, parts({0, 0, 0, 1, 2, 2}));
  EXPECT_EQ(f.exclude, "purchase");
  EXPECT_EQ(f.grade_weights, (std::vector<std::pair<std::string, float>>{{"cart", 1.0f}, {"purchase", 1.0f}}));
  EXPECT_EQ(f.meta["source"]["importer"], "pairs");
  EXPECT_EQ(f.meta["source"]["train"][0]["lines"], 4);
  EXPECT_EQ(f.meta["source"]["train"][0]["pairs"], 3);
  EXPECT_TRUE(f.excludes(0));
  EXPECT_FALSE(f.excludes(1));

  // Keeping dev in train: (1, 10) stays a training purchase.
  in.spec.remove_dev_from_train = false;
  st = import_pairs(in.spec, in.tmp.path() / "out2", false);
  EXPECT_EQ(st.train_rows, 4u);
  EXPECT_EQ(st.removed_from_train, 0u);
}

TEST(ImportPairs, RefusesBadInputAndForeignFolders) {
  PairFiles in;
  const fs::path out = in.tmp.path() / "out";
  test::write_file(out / "notes.txt", "mine");
  EXPECT_TRUE(test::contains(test::error_of([&] { import_pairs(in.spec, out, false); }), "folder exists and is not empty"));
  EXPECT_TRUE(test::contains(test::error_of([&] { import_pairs(in.spec, out, true); }), "not a funnel output folder"));
  EXPECT_EQ(test::read_file(out / "notes.txt"), "mine");

  // An earlier import's folder is replaced with overwrite, refused without.
  fs::remove_all(out);
  import_pairs(in.spec, out, false);
  EXPECT_TRUE(test::contains(test::error_of([&] { import_pairs(in.spec, out, false); }), "folder exists and is not empty"));
  in.spec.dev.clear();
  PairsImportStats st = import_pairs(in.spec, out, true);
  EXPECT_EQ(st.dev_rows, 0u);
  EXPECT_EQ(st.train_rows, 4u);
  EXPECT_FALSE(fs::exists(out / "feed" / "dev.tsv"));
  EXPECT_EQ(std::distance(fs::directory_iterator(in.tmp.path()), fs::directory_iterator()), 2) << "in, out: nothing else";

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"1 2\n1 2 3\n", "buy.txt:2: expected 'user item'"},
      {"1 2\n\n7\n", "buy.txt:3: expected 'user item'"},
      {"1 \x01\n", "buy.txt:1: expected 'user item'"},
      {"1 \xff\n", "buy.txt:1: invalid UTF-8"},
  };
  for (const auto& [content, expected] : bad) {
    test::write_file(in.tmp.path() / "in" / "buy.txt", content);
    const std::string e = test::error_of([&] { import_pairs(in.spec, in.tmp.path() / "bad", false); });
    EXPECT_TRUE(test::contains(e, expected)) << "expected '" << expected << "' in: " << e;
    EXPECT_FALSE(fs::exists(in.tmp.path() / "bad"));
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(in.tmp.path()), fs::directory_iterator()), 2) << "no temporary folder";

  PairsImport spec = in.spec;
  spec.held_out_signal = "view";
  EXPECT_TRUE(test::contains(test::error_of([&] { import_pairs(spec, in.tmp.path() / "x", false); }),
                             "held_out_signal 'view' is not one of the train signals"));
  spec = in.spec;
  spec.train.push_back({"cart", in.tmp.path() / "in" / "cart.txt"});
  EXPECT_TRUE(test::contains(test::error_of([&] { import_pairs(spec, in.tmp.path() / "x", false); }),
                             "signal 'cart' given twice"));
  spec = in.spec;
  EXPECT_TRUE(test::contains(test::error_of([&] { import_pairs(spec, in.tmp.path() / "in", true); }),
                             "holds the input"));
}

}  // namespace
}  // namespace funnel
