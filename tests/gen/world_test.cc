// Properties the synthetic world promises (docs/world.md).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/metrics.h"
#include "funnel/world.h"
#include "gen/vocab.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;

WorldOptions small(std::uint64_t seed = 7) {
  WorldOptions o;
  o.docs = 6000;
  o.queries = 600;
  o.users = 800;
  o.impressions = 150000;
  o.seed = seed;
  return o;
}

const World& shared_world() {
  static const World w = make_world(small());
  return w;
}

TEST(World, SameSeedGivesByteIdenticalFiles) {
  test::TempDir tmp;
  WorldOptions o = small(3);
  o.impressions = 20000;
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
  // corpus, queries, 3 qrels, labels, impressions, users, world.json, feed/{interactions.tsv,feed.json}
  EXPECT_EQ(files, 11);
  EXPECT_NE(test::read_file(tmp.path() / "a" / "corpus.jsonl"), test::read_file(tmp.path() / "c" / "corpus.jsonl"));
}

TEST(World, FilesReadBackWithTheStrictReaders) {
  test::TempDir tmp;
  WorldOptions o = small(5);
  o.impressions = 5000;
  World w = make_world(o);
  write_world(w, tmp.path() / "w", false);
  Dataset ds = load_dataset(tmp.path() / "w");
  EXPECT_EQ(ds.corpus.docs.size(), o.docs);
  EXPECT_EQ(ds.corpus.image_dim, o.image_dim);
  EXPECT_EQ(ds.queries.size(), o.queries);
  EXPECT_EQ(read_impressions(tmp.path() / "w" / "impressions.jsonl").size(), o.impressions);
  std::size_t judged = 0;
  std::set<std::string> seen_queries;
  for (std::string split : {"train", "dev", "test"}) {
    Qrels q = load_qrels(tmp.path() / "w", split);
    for (auto& [qid, j] : q) {
      EXPECT_TRUE(seen_queries.insert(qid).second) << qid << " is in two splits";
      judged += j.size();
    }
  }
  std::size_t expected = 0;
  for (auto& [qid, j] : w.qrels) expected += j.size();
  EXPECT_EQ(judged, expected);
  EXPECT_FALSE(read_qrels(tmp.path() / "w" / "human_labels.tsv").empty());
  // "quality" is latent: never an input field.
  EXPECT_EQ(test::read_file(tmp.path() / "w" / "corpus.jsonl").find("quality"), std::string::npos);
}

TEST(World, RefusesNonEmptyOutputWithoutForce) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "w" / "keep.txt", "mine");
  WorldOptions o = small();
  o.docs = 200;
  o.queries = 20;
  o.users = 10;
  o.impressions = 100;
  World w = make_world(o);
  EXPECT_THROW(write_world(w, tmp.path() / "w", false), Error);
  // --force replaces only a folder funnel wrote, never someone's files.
  EXPECT_THROW(write_world(w, tmp.path() / "w", true), Error);
  EXPECT_EQ(test::read_file(tmp.path() / "w" / "keep.txt"), "mine");
  write_world(w, tmp.path() / "w2", false);
  test::write_file(tmp.path() / "w2" / "stale.txt", "old");
  write_world(w, tmp.path() / "w2/", true);  // a trailing slash names the same folder
  EXPECT_FALSE(fs::exists(tmp.path() / "w2" / "stale.txt"));
  EXPECT_TRUE(fs::exists(tmp.path() / "w2" / "world.json"));
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(World, PolysemousEntityQueriesHaveRelevantDocsInSeveralTopics) {
  const World& w = shared_world();
  std::size_t polysemous = 0;
  for (auto& t : w.entity_topics) polysemous += t.size() > 1;
  double share = static_cast<double>(polysemous) / static_cast<double>(w.entity_topics.size());
  EXPECT_NEAR(share, 0.15, 0.05);
  int spanning = 0;
  for (std::size_t i = 0; i < w.queries.size(); ++i) {
    const auto& q = w.query_truth[i];
    if (q.intent != "entity") continue;
    std::set<int> topics;
    for (auto& [doc, g] : w.qrels.at(w.queries[i].id)) topics.insert(w.doc_truth[*w.corpus.find(doc)].topic);
    if (topics.size() >= 2) {
      ++spanning;
      EXPECT_GT(w.entity_topics[q.entity].size(), 1u);
    }
  }
  EXPECT_GE(spanning, 3);
}

TEST(World, HasEveryQueryIntentAndNoise) {
  const World& w = shared_world();
  std::map<std::string, int> intents;
  int typos = 0, reordered = 0, short_names = 0;
  for (auto& q : w.query_truth) {
    ++intents[q.intent];
    typos += q.typo;
    reordered += q.reordered;
    short_names += q.short_name;
  }
  EXPECT_GT(intents["entity"], 60);
  EXPECT_GT(intents["entity_topic"], 60);
  EXPECT_GT(intents["topic"], 150);
  EXPECT_GT(typos, 10);
  EXPECT_GT(reordered, 10);
  EXPECT_GT(short_names, 10);
  for (auto& [qid, j] : w.qrels)
    for (auto& [doc, g] : j) {
      EXPECT_GE(g, 1);
      EXPECT_LE(g, 3);
    }
}

TEST(World, VocabularyMismatchAndVagueDocs) {
  const World& w = shared_world();
  const auto& vocab = detail::embedded_vocab();
  int vague_with_topic_word = 0, vague = 0, synonym_docs = 0;
  for (std::size_t i = 0; i < w.corpus.docs.size(); ++i) {
    const auto& tr = w.doc_truth[i];
    const auto& topic = vocab.topics[tr.topic];
    std::string title = " " + w.corpus.docs[i].title + " ";
    std::string all = title + w.corpus.docs[i].text + " ";
    if (tr.vague) {
      ++vague;
      for (auto& word : topic.core)
        if (title.find(" " + word + " ") != std::string::npos) { ++vague_with_topic_word; break; }
    }
    // The doc's main concept written only as a synonym.
    const std::string& main = topic.core[tr.concepts[0]];
    if (!tr.vague && all.find(" " + main + " ") == std::string::npos && all.find(" " + main + ".") == std::string::npos)
      ++synonym_docs;
  }
  EXPECT_GT(vague, 200);
  EXPECT_EQ(vague_with_topic_word, 0);
  EXPECT_GT(synonym_docs, 300);
}

TEST(World, ImageVectorsCarryTheTopic) {
  // A doc's image_vec is nearer its own topic's mean than another topic's.
  const World& w = shared_world();
  std::map<int, std::vector<double>> mean;
  std::map<int, int> count;
  const int dim = w.options.image_dim;
  for (std::size_t i = 0; i < w.corpus.docs.size(); ++i) {
    auto& m = mean[w.doc_truth[i].topic];
    m.resize(dim);
    for (int k = 0; k < dim; ++k) m[k] += w.corpus.docs[i].image_vec[k];
    ++count[w.doc_truth[i].topic];
  }
  for (auto& [t, m] : mean)
    for (auto& x : m) x /= count[t];
  int nearest_own = 0, n = 0;
  for (std::size_t i = 0; i < w.corpus.docs.size(); ++i) {
    if (!w.doc_truth[i].vague) continue;
    int best = -1;
    double best_d = 1e300;
    for (auto& [t, m] : mean) {
      double d = 0;
      for (int k = 0; k < dim; ++k) d += (w.corpus.docs[i].image_vec[k] - m[k]) * (w.corpus.docs[i].image_vec[k] - m[k]);
      if (d < best_d) { best_d = d; best = t; }
    }
    nearest_own += best == w.doc_truth[i].topic;
    ++n;
  }
  EXPECT_GT(static_cast<double>(nearest_own) / n, 0.9);
}

TEST(World, ClickThroughFallsWithPositionAtEqualRelevance) {
  const World& w = shared_world();
  // CTR by position for each grade separately, so the logging ranker's
  // habit of putting relevant docs on top does not explain the drop.
  std::map<int, std::vector<std::pair<int, int>>> by_grade;  // grade -> per position (clicks, shown)
  for (const auto& im : w.impressions) {
    int g = 0;
    const auto& j = w.qrels.at(im.query_id);
    if (auto it = j.find(im.doc_id); it != j.end()) g = it->second;
    auto& v = by_grade[g];
    v.resize(w.options.page_size);
    v[im.position].first += im.click;
    v[im.position].second += 1;
  }
  for (int g : {0, 3}) {
    const auto& v = by_grade[g];
    auto ctr = [&](int lo, int hi) {
      double c = 0, s = 0;
      for (int p = lo; p <= hi; ++p) { c += v[p].first; s += v[p].second; }
      return c / s;
    };
    double top = ctr(0, 1), mid = ctr(4, 5), bottom = ctr(8, 9);
    std::printf("  grade %d: CTR top %.3f mid %.3f bottom %.3f\n", g, top, mid, bottom);
    EXPECT_GT(top, mid * 1.3);
    EXPECT_GT(mid, bottom * 1.1);
  }
  // And relevance matters at equal position.
  double c3 = 0, s3 = 0, c0 = 0, s0 = 0;
  for (int p = 0; p < 3; ++p) {
    c3 += by_grade[3][p].first; s3 += by_grade[3][p].second;
    c0 += by_grade[0][p].first; s0 += by_grade[0][p].second;
  }
  EXPECT_GT(c3 / s3, 2 * (c0 / s0));
}

TEST(World, EngagementDependsOnQualityNotOnlyRelevance) {
  const World& w = shared_world();
  // Among clicked grade-3 impressions, high-quality docs are watched longer
  // and liked more: engagement and relevance differ.
  double watch_hi = 0, watch_lo = 0, like_hi = 0, like_lo = 0;
  int n_hi = 0, n_lo = 0;
  for (const auto& im : w.impressions) {
    if (!im.click) continue;
    const auto& j = w.qrels.at(im.query_id);
    auto it = j.find(im.doc_id);
    if (it == j.end() || it->second != 3) continue;
    float q = w.doc_truth[*w.corpus.find(im.doc_id)].quality;
    if (q > 0.65) { watch_hi += im.watch; like_hi += im.like; ++n_hi; }
    if (q < 0.35) { watch_lo += im.watch; like_lo += im.like; ++n_lo; }
  }
  ASSERT_GT(n_hi, 100);
  ASSERT_GT(n_lo, 100);
  EXPECT_GT(watch_hi / n_hi, watch_lo / n_lo + 0.1);
  EXPECT_GT(like_hi / n_hi, 1.5 * (like_lo / n_lo));
}

TEST(World, HumanLabelsAgreeWithTruthUpToNoise) {
  const World& w = shared_world();
  int agree = 0, n = 0;
  for (auto& [qid, labels] : w.human_labels) {
    const auto& truth = w.qrels.at(qid);
    for (auto& [doc, g] : labels) {
      auto it = truth.find(doc);
      agree += (it == truth.end() ? 0 : it->second) == g;
      ++n;
    }
  }
  ASSERT_GT(n, 500);
  double rate = static_cast<double>(agree) / n;
  EXPECT_GT(rate, 0.85);
  EXPECT_LT(rate, 0.97);  // the noise is there
}

TEST(World, RejectsBadOptions) {
  WorldOptions o = small();
  o.docs = 5;
  EXPECT_THROW(make_world(o), Error);
  o = small();
  o.typo_rate = 1.5;
  EXPECT_THROW(make_world(o), Error);
}

TEST(Vocab, ParserRejectsBrokenFiles) {
  EXPECT_THROW(detail::parse_vocab("[topic a]\ncore x y\n", "v"), Error);
  EXPECT_THROW(detail::parse_vocab("[topic a]\ncore: a b c d e f g h\nsyn: zz=q\n", "v"), Error);
  EXPECT_THROW(detail::parse_vocab("[mystery]\nwords: a\n", "v"), Error);
  const auto& v = detail::embedded_vocab();
  EXPECT_GE(v.topics.size(), 8u);
  for (auto& t : v.topics) EXPECT_EQ(t.core.size(), t.synonyms.size());
}

// BM25 on the default world must be useful but far from perfect: the world
// exists so that learned stages have something to win.
TEST(WorldBm25, DefaultWorldNdcgBetweenPoint3AndPoint7) {
  WorldOptions o;  // the default demo world
  o.impressions = 0;  // logs play no part in BM25; skip their cost here
  o.feed_pages = 0;
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
