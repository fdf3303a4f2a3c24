// Properties the synthetic world's feeds promise (docs/world.md, "Feeds").
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "funnel/error.h"
#include "funnel/interactions.h"
#include "funnel/world.h"
#include "gen/generator.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;

constexpr std::int64_t kDay = 86400;

WorldOptions small(std::uint64_t seed = 11) {
  WorldOptions o;
  o.docs = 4000;
  o.queries = 200;
  o.users = 600;
  o.impressions = 2000;
  o.seed = seed;
  o.feed_days = 8;
  o.feed_dev_days = 1;
  o.feed_test_days = 2;
  o.feed_pages = 12000;
  return o;
}

const World& shared_world() {
  static const World w = make_world(small());
  return w;
}

std::size_t column(const World& w, const std::string& name) {
  const int s = w.feed.signal_index(name);
  EXPECT_GE(s, 0) << name;
  return static_cast<std::size_t>(s);
}

TEST(WorldFeed, SameSeedGivesByteIdenticalFiles) {
  test::TempDir tmp;
  WorldOptions o = small(3);
  o.docs = 1000;
  o.users = 200;
  o.feed_pages = 3000;
  write_world(make_world(o), tmp.path() / "a", false);
  write_world(make_world(o), tmp.path() / "b", false);
  o.seed = 4;
  write_world(make_world(o), tmp.path() / "c", false);
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(tmp.path() / "a")) {
    if (!e.is_regular_file()) continue;
    fs::path rel = fs::relative(e.path(), tmp.path() / "a");
    EXPECT_EQ(test::read_file(e.path()), test::read_file(tmp.path() / "b" / rel)) << rel;
    ++files;
  }
  EXPECT_EQ(files, 11);  // the 9 search files, feed/interactions.tsv, feed/feed.json
  EXPECT_NE(test::read_file(tmp.path() / "a" / "feed" / "interactions.tsv"),
            test::read_file(tmp.path() / "c" / "feed" / "interactions.tsv"));
}

TEST(WorldFeed, TheFeedLeavesTheSearchWorldUnchanged) {
  WorldOptions o = small(5);
  o.docs = 1000;
  o.users = 200;
  o.feed_pages = 2000;
  World with = make_world(o);
  o.feed_pages = 0;
  World without = make_world(o);
  ASSERT_EQ(with.impressions.size(), without.impressions.size());
  for (std::size_t i = 0; i < with.impressions.size(); ++i) {
    EXPECT_EQ(with.impressions[i].doc_id, without.impressions[i].doc_id);
    EXPECT_EQ(with.impressions[i].click, without.impressions[i].click);
  }
  EXPECT_TRUE(without.feed.rows.empty());
  EXPECT_TRUE(without.doc_published.empty());
  EXPECT_FALSE(without.corpus.docs[0].published.has_value());
  ASSERT_EQ(with.doc_published.size(), with.corpus.docs.size());
  EXPECT_EQ(with.corpus.docs[7].published, with.doc_published[7]);
  // No feed, no feed folder, no publication times in the corpus.
  test::TempDir tmp;
  write_world(without, tmp.path() / "w", false);
  EXPECT_FALSE(fs::exists(tmp.path() / "w" / "feed"));
  EXPECT_EQ(test::read_file(tmp.path() / "w" / "corpus.jsonl").find("\"published\""), std::string::npos);
}

TEST(WorldFeed, RowsAreSortedByTimeInsideTheFeedDays) {
  const World& w = shared_world();
  ASSERT_EQ(w.feed.rows.size(), w.options.feed_pages * w.options.page_size);
  EXPECT_TRUE(w.feed.has_time);
  EXPECT_EQ(w.feed.signal_names, (std::vector<std::string>{"click", "watch", "finish", "like", "share", "follow"}));
  EXPECT_EQ(w.feed.signals.size(), w.feed.rows.size() * 6);
  std::set<std::int64_t> days;
  for (std::size_t i = 0; i < w.feed.rows.size(); ++i) {
    const auto t = w.feed.rows[i].time;
    ASSERT_GE(t, 0);
    ASSERT_LT(t, w.options.feed_days * kDay);
    if (i > 0) {
      ASSERT_LE(w.feed.rows[i - 1].time, t) << "row " << i;
    }
    days.insert(t / kDay);
  }
  EXPECT_EQ(days.size(), static_cast<std::size_t>(w.options.feed_days));
}

TEST(WorldFeed, UsersAreTheWorldsUsers) {
  const World& w = shared_world();
  std::set<std::string> users;  // as in users.jsonl and the impressions
  for (std::size_t i = 0; i < w.options.users; ++i) users.insert(gen::pad_id('u', i, w.options.users));
  for (const auto& id : w.feed.user_ids) ASSERT_TRUE(users.count(id)) << id;
  EXPECT_GT(w.feed.user_ids.size(), w.options.users / 2);
}

TEST(WorldFeed, NoDocIsShownBeforeItsPublication) {
  const World& w = shared_world();
  std::size_t fresh = 0, shown_fresh = 0;
  for (auto t : w.doc_published) {
    EXPECT_GE(t, -30 * kDay);
    EXPECT_LT(t, w.options.feed_days * kDay);
    fresh += t >= 0;
  }
  EXPECT_NEAR(static_cast<double>(fresh) / w.doc_published.size(), w.options.feed_fresh_share, 0.03);
  for (const auto& r : w.feed.rows) {
    ASSERT_LE(w.doc_published[r.item], r.time);
    shown_fresh += w.doc_published[r.item] >= 0;
  }
  EXPECT_GT(shown_fresh, w.feed.rows.size() / 10);  // new docs do get shown
}

TEST(WorldFeed, NoDocIsShownAgainToAUserAfterAClick) {
  const World& w = shared_world();
  const std::size_t click = column(w, "click");
  std::unordered_map<std::uint64_t, std::int64_t> clicked_at;  // (user, item) -> time of the click
  std::size_t clicks = 0;
  for (std::size_t i = 0; i < w.feed.rows.size(); ++i) {
    const auto& r = w.feed.rows[i];
    const std::uint64_t key = (std::uint64_t{r.user} << 32) | r.item;
    ASSERT_EQ(clicked_at.count(key), 0u) << w.feed.user_ids[r.user] << " saw row " << r.item << " again";
    if (w.feed.signal(i, click) > 0) {
      clicked_at[key] = r.time;
      ++clicks;
    }
  }
  EXPECT_GT(clicks, w.feed.rows.size() / 50);
}

// A user's follows over time: the authors followed at the start, plus each
// follow signal from the row after it on.
TEST(WorldFeed, EngagementIsHigherOnTheUsersTopicsAndFollowedAuthors) {
  const World& w = shared_world();
  const std::size_t click = column(w, "click"), follow = column(w, "follow");
  std::vector<std::vector<int>> follows(w.feed.user_ids.size());
  for (std::size_t r = 0; r < w.feed.user_ids.size(); ++r)
    follows[r] = w.user_truth[std::stoul(w.feed.user_ids[r].substr(1)) - 1].follows;
  std::size_t start_follows = 0;
  for (const auto& u : w.user_truth) start_follows += u.follows.size();
  EXPECT_NEAR(static_cast<double>(start_follows) / w.user_truth.size(), w.options.feed_follows, 0.3);
  // (clicks, rows) on docs of the user's topics / others, followed authors / others.
  double topic[2][2] = {}, followed[2][2] = {};
  std::size_t new_follows = 0;
  for (std::size_t i = 0; i < w.feed.rows.size(); ++i) {
    const auto& r = w.feed.rows[i];
    const auto& u = w.user_truth[std::stoul(w.feed.user_ids[r.user].substr(1)) - 1];
    const auto& d = w.doc_truth[r.item];
    auto& f = follows[r.user];
    const bool is_followed = std::find(f.begin(), f.end(), d.author) != f.end();
    const bool c = w.feed.signal(i, click) > 0;
    topic[u.interest(d.topic) > 0][0] += c;
    topic[u.interest(d.topic) > 0][1] += 1;
    followed[is_followed][0] += c;
    followed[is_followed][1] += 1;
    if (w.feed.signal(i, follow) > 0) {
      // One can only follow an author one does not follow yet.
      ASSERT_FALSE(is_followed) << "row " << i;
      ASSERT_TRUE(c);
      f.push_back(d.author);
      ++new_follows;
    }
  }
  const double ctr_topic = topic[1][0] / topic[1][1], ctr_other = topic[0][0] / topic[0][1];
  const double ctr_followed = followed[1][0] / followed[1][1], ctr_unfollowed = followed[0][0] / followed[0][1];
  std::printf("  CTR own topics %.3f (%g rows), other %.3f (%g rows)\n", ctr_topic, topic[1][1], ctr_other, topic[0][1]);
  std::printf("  CTR followed authors %.3f (%g rows), other %.3f (%g rows); %zu new follows\n", ctr_followed,
              followed[1][1], ctr_unfollowed, followed[0][1], new_follows);
  EXPECT_GT(ctr_topic, 1.5 * ctr_other);
  EXPECT_GT(ctr_followed, 1.5 * ctr_unfollowed);
  EXPECT_GT(followed[1][1], w.feed.rows.size() / 20.0);  // followed authors are on the pages
  EXPECT_GT(new_follows, 0u);
}

TEST(WorldFeed, TestDaysEngageWithDocsPublishedInTestDays) {
  const World& w = shared_world();
  const std::size_t click = column(w, "click");
  const std::int64_t test_from = (w.options.feed_days - w.options.feed_test_days) * kDay;
  std::size_t clicks = 0, on_new = 0, on_new_followed = 0;
  for (std::size_t i = 0; i < w.feed.rows.size(); ++i) {
    const auto& r = w.feed.rows[i];
    if (r.time < test_from || w.feed.signal(i, click) == 0) continue;
    ++clicks;
    if (w.doc_published[r.item] < test_from) continue;
    ++on_new;
    const auto& u = w.user_truth[std::stoul(w.feed.user_ids[r.user].substr(1)) - 1];
    on_new_followed += std::find(u.follows.begin(), u.follows.end(), w.doc_truth[r.item].author) != u.follows.end();
  }
  std::printf("  test-day clicks %zu, on docs published in the test days %zu (%zu by authors followed at the start)\n",
              clicks, on_new, on_new_followed);
  EXPECT_GT(on_new, clicks / 20);
  EXPECT_GT(on_new_followed, 0u);
}

TEST(WorldFeed, LoadFeedLogSplitsByDay) {
  test::TempDir tmp;
  const World& w = shared_world();
  write_world(w, tmp.path() / "w", false);
  Corpus corpus = read_corpus(tmp.path() / "w" / "corpus.jsonl");
  ASSERT_EQ(corpus.docs.size(), w.corpus.docs.size());
  EXPECT_EQ(corpus.docs[3].published, w.doc_published[3]);
  FeedLog fl = load_feed_log(tmp.path() / "w", corpus);
  ASSERT_EQ(fl.log.rows.size(), w.feed.rows.size());
  ASSERT_EQ(fl.part.size(), fl.log.rows.size());
  const int train_days = w.options.feed_days - w.options.feed_dev_days - w.options.feed_test_days;
  EXPECT_EQ(fl.dev_from, train_days * kDay);
  EXPECT_EQ(fl.test_from, (train_days + w.options.feed_dev_days) * kDay);
  EXPECT_EQ(fl.exclude, "engaged");
  std::size_t count[3] = {}, engaged[3] = {};
  for (std::size_t i = 0; i < fl.log.rows.size(); ++i) {
    const int day = static_cast<int>(fl.log.rows[i].time / kDay);
    const LogPart want = day < train_days                              ? LogPart::kTrain
                         : day < train_days + w.options.feed_dev_days ? LogPart::kDev
                                                                       : LogPart::kTest;
    ASSERT_EQ(fl.part[i], want) << "row " << i;
    ++count[static_cast<int>(want)];
    engaged[static_cast<int>(want)] += fl.grade(i) > 0;
    // The log reads back as written.
    ASSERT_EQ(fl.log.user_ids[fl.log.rows[i].user], w.feed.user_ids[w.feed.rows[i].user]);
    ASSERT_EQ(fl.log.rows[i].item, w.feed.rows[i].item);
    ASSERT_EQ(fl.log.rows[i].time, w.feed.rows[i].time);
  }
  std::printf("  rows train %zu dev %zu test %zu; engaged %zu %zu %zu\n", count[0], count[1], count[2], engaged[0],
              engaged[1], engaged[2]);
  for (int p = 0; p < 3; ++p) {
    EXPECT_GT(count[p], 0u) << p;
    EXPECT_GT(engaged[p], 0u) << p;
  }
  // world.json lists the feed and its counts.
  std::ifstream in(tmp.path() / "w" / "world.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["files"]["feed"]["log"], "feed/interactions.tsv");
  EXPECT_EQ(j["stats"]["feed"]["rows"], w.feed.rows.size());
  EXPECT_EQ(j["stats"]["feed"]["parts"]["test"]["rows"], count[2]);
}

TEST(WorldFeed, RejectsBadOptions) {
  WorldOptions o = small();
  o.feed_dev_days = 3;
  o.feed_test_days = 5;  // no training day left of 8
  EXPECT_THROW(make_world(o), Error);
  o = small();
  o.feed_test_days = 0;
  EXPECT_THROW(make_world(o), Error);
  o = small();
  o.feed_fresh_share = 1.5;
  EXPECT_THROW(make_world(o), Error);
  o = small();
  o.feed_follows = -1;
  EXPECT_THROW(make_world(o), Error);
  o = small();
  o.feed_dev_days = -1;
  EXPECT_THROW(make_world(o), Error);
}

}  // namespace
}  // namespace funnel
