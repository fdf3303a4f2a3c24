// The BM25 channel against a direct, stock Xapian BM25 run and the shared
// reference figures; CJK n-gram indexing of Chinese text.
#include <gtest/gtest.h>
#include <xapian.h>

#include <algorithm>
#include <filesystem>

#include "funnel/error.h"
#include "funnel/index.h"
#include "funnel/metrics.h"
#include "funnel/pipeline.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;

struct Figures {
  double ndcg10 = 0, map = 0, recall100 = 0, recall1000 = 0;
};

// Mean metrics of ranked doc-id lists over the judged queries.
template <class SearchFn>
Figures score(const std::vector<Query>& queries, const Qrels& qrels, SearchFn search) {
  Figures f;
  int n = 0;
  for (const Query& q : queries) {
    auto it = qrels.find(q.id);
    if (it == qrels.end()) continue;
    std::vector<std::string> ranked = search(q.text);
    f.ndcg10 += metrics::ndcg_at_k(ranked, it->second, 10);
    f.map += metrics::average_precision(ranked, it->second, 1000);
    f.recall100 += metrics::recall_at_k(ranked, it->second, 100);
    f.recall1000 += metrics::recall_at_k(ranked, it->second, 1000);
    ++n;
  }
  f.ndcg10 /= n;
  f.map /= n;
  f.recall100 /= n;
  f.recall1000 /= n;
  return f;
}

// The reference run as ../shared/data/README.md describes it, written with
// nothing but stock Xapian: English stemmer, title + text indexed together,
// query words OR-ed, default BM25 parameters.
Figures stock_xapian(const Dataset& ds, const Qrels& qrels, const fs::path& dir) {
  {
    Xapian::WritableDatabase db(dir.string(), Xapian::DB_CREATE_OR_OVERWRITE);
    Xapian::TermGenerator tg;
    tg.set_stemmer(Xapian::Stem("english"));
    for (const Doc& d : ds.corpus.docs) {
      Xapian::Document doc;
      tg.set_document(doc);
      tg.index_text(d.title);
      tg.increase_termpos();
      tg.index_text(d.text);
      doc.set_data(d.id);
      db.add_document(doc);
    }
    db.commit();
  }
  Xapian::Database db(dir.string());
  Xapian::QueryParser qp;
  qp.set_stemmer(Xapian::Stem("english"));
  qp.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
  qp.set_default_op(Xapian::Query::OP_OR);
  return score(ds.queries, qrels, [&](const std::string& text) {
    Xapian::Enquire enquire(db);
    enquire.set_query(qp.parse_query(text));
    enquire.set_weighting_scheme(Xapian::BM25Weight());
    std::vector<std::string> out;
    Xapian::MSet mset = enquire.get_mset(0, 1000);
    for (auto it = mset.begin(); it != mset.end(); ++it)
      out.push_back(it.get_document().get_data());
    return out;
  });
}

void check_collection(const std::string& name, const Figures& reference) {
  fs::path dir = fs::path(FUNNEL_SHARED_DATA) / "beir" / name;
  if (!fs::is_directory(dir))
    GTEST_SKIP() << "skipped: " << dir << " not found (the shared BEIR collections are not beside the checkout)";
  Dataset ds = load_dataset(dir);
  Qrels qrels = load_qrels(dir, "test");
  test::TempDir tmp;

  IndexOptions o;
  o.bm25.title_weight = 1;  // the reference indexes title and text alike
  build_index(ds.corpus, tmp.path() / "index", o);
  Pipeline pipeline(Index::open(tmp.path() / "index"), default_cascade(1000, 1000));
  Figures ours = score(ds.queries, qrels, [&](const std::string& text) {
    Request req;
    req.query = text;
    req.k = 1000;
    std::vector<std::string> ids;
    for (auto& item : pipeline.run(req).items) ids.push_back(item.doc_id);
    return ids;
  });
  Figures stock = stock_xapian(ds, qrels, tmp.path() / "stock");
  std::printf("  %s: funnel nDCG@10 %.4f MAP %.4f R@100 %.4f R@1000 %.4f | stock %.4f %.4f %.4f %.4f\n",
              name.c_str(), ours.ndcg10, ours.map, ours.recall100, ours.recall1000, stock.ndcg10, stock.map,
              stock.recall100, stock.recall1000);
  // funnel's analyser (one stemmed term per word, NFKC and case folding) is
  // not Xapian's TermGenerator + QueryParser (unstemmed and stemmed terms,
  // no normalisation), but on English text it must rank as well: the same
  // nDCG@10 within 0.005, and MAP and Recall@1000 no worse by more than that.
  EXPECT_NEAR(ours.ndcg10, stock.ndcg10, 0.005);
  EXPECT_GT(ours.map, stock.map - 0.005);
  EXPECT_GT(ours.recall1000, stock.recall1000 - 0.005);
  // The stock run is the reference run of the shared data's README.
  EXPECT_NEAR(stock.ndcg10, reference.ndcg10, 1e-4);
  EXPECT_NEAR(stock.map, reference.map, 1e-4);
  EXPECT_NEAR(stock.recall1000, reference.recall1000, 1e-4);
}

TEST(Bm25Beir, MedMatchesStockXapianAndReference) {
  check_collection("med", {0.6813, 0.5217, 0.7823, 0.9605});
}

TEST(Bm25Beir, CisiMatchesStockXapianAndReference) {
  check_collection("cisi", {0.3538, 0.1963, 0.4057, 0.9191});
}

Corpus small_corpus(const std::vector<std::array<std::string, 3>>& rows) {
  Corpus c;
  for (auto& [id, title, text] : rows) {
    c.row_of[id] = static_cast<std::uint32_t>(c.docs.size());
    c.docs.push_back(Doc{id, title, text, {}, "", "", {}, {}});
  }
  return c;
}

std::vector<std::string> ids(const Index& index, const std::vector<RecallHit>& hits) {
  std::vector<std::string> out;
  for (auto& h : hits) out.push_back(index.doc_id(h.row));
  return out;
}

TEST(Bm25Cjk, ChineseTitlesAreFoundByChineseQueries) {
  Corpus c = small_corpus({{"c1", "小猪佩奇 第一集 泥坑", "佩奇和乔治在泥坑里跳"},
                           {"c2", "玩具开箱 小猪佩奇 城堡", "今天我们开箱一个新玩具"},
                           {"c3", "红烧肉的做法", "家常菜 红烧肉 简单好吃"},
                           {"c4", "Peppa Pig episode one", "muddy puddles"}});
  test::TempDir tmp;
  build_index(c, tmp.path() / "i", IndexOptions{});
  auto index = Index::open(tmp.path() / "i");
  const RecallChannel* bm25 = index->channel("bm25");
  // No spaces between Chinese words: only n-grams can match a sub-string.
  auto hits = ids(*index, bm25->search("佩奇", 10));
  EXPECT_EQ(hits.size(), 2u);
  EXPECT_NE(std::find(hits.begin(), hits.end(), "c1"), hits.end());
  EXPECT_NE(std::find(hits.begin(), hits.end(), "c2"), hits.end());
  hits = ids(*index, bm25->search("红烧肉", 10));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0], "c3");
  hits = ids(*index, bm25->search("玩具开箱", 10));
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0], "c2");
  // Mixed scripts in one corpus: English still works with stemming.
  hits = ids(*index, bm25->search("puddle", 10));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0], "c4");
}

TEST(Bm25Cjk, NgramLengthsAreAnOption) {
  // Bigrams only: a two-character query matches, a lone character is its own
  // term and matches no doc (whose runs were cut into bigrams).
  Corpus c = small_corpus({{"c1", "小猪佩奇第一集", ""}, {"c2", "红烧肉的做法", ""}});
  test::TempDir tmp;
  IndexOptions o;
  o.bm25.cjk_ngrams = {2};
  build_index(c, tmp.path() / "i", o);
  auto index = Index::open(tmp.path() / "i");
  EXPECT_EQ(ids(*index, index->channel("bm25")->search("佩奇", 10)), std::vector<std::string>{"c1"});
  EXPECT_TRUE(index->channel("bm25")->search("佩", 10).empty());
  // The index remembers its analysis: a channel asking for other n-grams is refused.
  Bm25Options other;
  EXPECT_TRUE(test::contains(test::error_of([&] { open_bm25_channel(tmp.path() / "i" / "bm25", other); }),
                             "rebuild the index"));
}

TEST(Bm25Cjk, TwoRunsFollowedByDigitsNoLongerCrash) {
  // This query killed `funnel search` with an uncaught
  // Xapian::QueryParserError when the query went through Xapian's parser.
  Corpus c = small_corpus({{"a", "谷丙转氨酶53 谷草转氨酶29 偏高怎么办", ""}, {"b", "转氨酶正常值", ""}, {"c", "other", ""}});
  test::TempDir tmp;
  build_index(c, tmp.path() / "i", IndexOptions{});
  Pipeline pipeline(Index::open(tmp.path() / "i"), default_cascade(10, 10));
  Request req;
  req.query = "谷丙转氨酶53 谷草转氨酶29";
  req.k = 10;
  const Response r = pipeline.run(req);
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[0].doc_id, "a");
}

TEST(Bm25Channel, ScoresGivenRowsAsSearchDoes) {
  Corpus c = small_corpus({{"a", "guitar lesson", "learn guitar chords"}, {"b", "piano lesson", "scales"},
                           {"c", "cooking", "pasta"}, {"d", "guitar", "amp"}});
  test::TempDir tmp;
  build_index(c, tmp.path() / "i", IndexOptions{});
  auto index = Index::open(tmp.path() / "i");
  const RecallChannel* bm25 = index->channel("bm25");
  const auto hits = bm25->search("guitar lesson", 10);
  ASSERT_EQ(hits.size(), 3u);
  // Rows in another order, one that does not match (c = row 2): 0 for it,
  // and exactly search()'s weight for the others.
  const std::vector<std::uint32_t> rows = {3, 2, 0, 1};
  const auto scores = bm25->score_rows("guitar lesson", rows);
  ASSERT_EQ(scores.size(), rows.size());
  EXPECT_EQ(scores[1], 0.0);
  for (const auto& h : hits) {
    const auto at = std::find(rows.begin(), rows.end(), h.row) - rows.begin();
    EXPECT_EQ(scores[static_cast<std::size_t>(at)], h.score) << "row " << h.row;
  }
  EXPECT_TRUE(test::contains(test::error_of([&] { bm25->score_rows("guitar", {9}); }), "row 9 is out of range"));
  EXPECT_TRUE(bm25->score_rows("guitar", {}).empty());
}

TEST(Bm25Channel, PhraseBoostLiftsDocsHoldingThePhrase) {
  // Both docs hold both words once in a title of equal length; only "b" holds
  // them in the query's order and next to each other.
  Corpus c = small_corpus({{"a", "lesson for a guitar", ""}, {"b", "a guitar lesson for", ""}});
  test::TempDir tmp;
  IndexOptions o;
  build_index(c, tmp.path() / "i", o);
  auto index = Index::open(tmp.path() / "i");
  const auto plain = index->channel("bm25")->search("guitar lesson", 2);
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_EQ(plain[0].score, plain[1].score);  // BM25 alone cannot tell them apart
  Bm25Options boosted;
  boosted.phrase_boost = 1;
  auto channel = open_bm25_channel(tmp.path() / "i" / "bm25", boosted);
  const auto hits = channel->search("guitar lesson", 2);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(index->doc_id(hits[0].row), "b");
  EXPECT_GT(hits[0].score, hits[1].score);
}

// A corpus where "distortion" is rare (2 of 23 docs): the guitar docs share
// it with a pedal doc that holds no word of the query.
Corpus pedal_corpus() {
  std::vector<std::array<std::string, 3>> rows = {{"amp", "guitar amp", "guitar amp distortion"},
                                                   {"lesson", "guitar lesson", "guitar amp lesson"},
                                                   {"pedal", "fuzz pedal", "distortion pedal fuzz"}};
  for (int i = 0; i < 20; ++i) rows.push_back({"f" + std::to_string(i), "cooking pasta", "tomato recipe"});
  return small_corpus(rows);
}

TEST(Bm25Prf, ZeroFeedbackDocsIsPlainBm25) {
  fs::path dir = fs::path(FUNNEL_SHARED_DATA) / "beir" / "med";
  Corpus c = fs::is_directory(dir) ? load_dataset(dir).corpus : pedal_corpus();
  std::vector<Query> queries = fs::is_directory(dir) ? load_dataset(dir).queries : std::vector<Query>{{"q", "guitar amp"}};
  test::TempDir tmp;
  build_index(c, tmp.path() / "i", IndexOptions{});
  Bm25Options plain, zero;
  zero.prf_docs = 0;
  zero.prf_terms = 7;
  zero.prf_query_weight = 0.2;  // ignored without feedback docs
  auto a = open_bm25_channel(tmp.path() / "i" / "bm25", plain), b = open_bm25_channel(tmp.path() / "i" / "bm25", zero);
  for (const Query& q : queries) {
    const auto x = a->search(q.text, 100), y = b->search(q.text, 100);
    ASSERT_EQ(x.size(), y.size()) << q.id;
    for (std::size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(x[i].row, y[i].row) << q.id << " rank " << i;
      EXPECT_EQ(x[i].score, y[i].score) << q.id << " rank " << i;
    }
  }
}

// RM3 with its defaults on a real collection: on MED (medical abstracts,
// where relevant docs often use other words for the query's) it lifts
// nDCG@10 by about 0.04 (0.682 -> 0.718, docs/relevance.md); a broken
// expansion (wrong weights, stop-words kept, the query dropped) loses that.
TEST(Bm25Prf, LiftsMedAboveBm25) {
  fs::path dir = fs::path(FUNNEL_SHARED_DATA) / "beir" / "med";
  if (!fs::is_directory(dir)) GTEST_SKIP() << "skipped: " << dir << " not found";
  Dataset ds = load_dataset(dir);
  Qrels qrels = load_qrels(dir, "test");
  test::TempDir tmp;
  build_index(ds.corpus, tmp.path() / "i", IndexOptions{});
  Bm25Options prf;
  prf.prf_docs = 10;
  auto plain = open_bm25_channel(tmp.path() / "i" / "bm25", Bm25Options{});
  auto expanded = open_bm25_channel(tmp.path() / "i" / "bm25", prf);
  auto run = [&](const RecallChannel& ch) {
    return score(ds.queries, qrels, [&](const std::string& text) {
      std::vector<std::string> ids;
      for (const auto& h : ch.search(text, 1000)) ids.push_back(ds.corpus.docs[h.row].id);
      return ids;
    });
  };
  const Figures a = run(*plain), b = run(*expanded);
  std::printf("  MED nDCG@10: BM25 %.4f, BM25 + RM3 %.4f\n", a.ndcg10, b.ndcg10);
  EXPECT_GT(b.ndcg10, a.ndcg10 + 0.02);
  EXPECT_GT(b.recall100, a.recall100);
}

TEST(Bm25Prf, ExpansionFindsADocWithoutTheQuerysWords) {
  Corpus c = pedal_corpus();
  test::TempDir tmp;
  build_index(c, tmp.path() / "i", IndexOptions{});
  auto index = Index::open(tmp.path() / "i");
  EXPECT_EQ(ids(*index, index->channel("bm25")->search("guitar amp", 10)), (std::vector<std::string>{"amp", "lesson"}));
  Bm25Options prf;
  prf.prf_docs = 2;
  prf.prf_terms = 10;
  auto channel = open_bm25_channel(tmp.path() / "i" / "bm25", prf);
  const auto hits = channel->search("guitar amp", 10);
  // "distortion" (in the feedback doc "amp", 2 of 23 docs) brings "pedal";
  // "cooking" docs share nothing and stay out. The query's own docs lead.
  EXPECT_EQ(ids(*index, hits), (std::vector<std::string>{"amp", "lesson", "pedal"}));
  // score_rows scores with the same expanded query.
  const auto scores = channel->score_rows("guitar amp", {2, 0, 5});
  EXPECT_EQ(scores[0], hits[2].score);
  EXPECT_EQ(scores[1], hits[0].score);
  EXPECT_EQ(scores[2], 0.0);
  // A query that matches nothing has no feedback and no expansion.
  EXPECT_TRUE(channel->search("violin", 10).empty());
}

TEST(Bm25Options, FieldWeightsChangeTheOrder) {
  Corpus c = small_corpus({{"t", "guitar", "lesson"}, {"x", "lesson", "guitar"}});
  test::TempDir tmp;
  IndexOptions o;
  o.bm25.title_weight = 3;
  build_index(c, tmp.path() / "a", o);
  auto a = Index::open(tmp.path() / "a");
  EXPECT_EQ(ids(*a, a->channel("bm25")->search("guitar", 2))[0], "t");
  o.bm25.title_weight = 1;
  o.bm25.text_weight = 3;
  build_index(c, tmp.path() / "b", o);
  auto b = Index::open(tmp.path() / "b");
  EXPECT_EQ(ids(*b, b->channel("bm25")->search("guitar", 2))[0], "x");
}

TEST(Bm25Options, JsonValidation) {
  EXPECT_THROW(bm25_options_from_json({{"k1", "high"}}, "cfg"), Error);
  EXPECT_THROW(bm25_options_from_json({{"b", 2.0}}, "cfg"), Error);
  EXPECT_THROW(bm25_options_from_json({{"stemmer", "klingon"}}, "cfg"), Error);
  try {
    bm25_options_from_json({{"k_1", 1.2}}, "cfg.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cfg.json: unknown field 'k_1'"), std::string::npos);
  }
  EXPECT_TRUE(test::contains(test::error_of([] { bm25_options_from_json({{"cjk_ngrams", {2, 1}}}, "cfg"); }),
                             "cfg: field 'cjk_ngrams': lengths must be ascending and distinct"));
  EXPECT_TRUE(test::contains(test::error_of([] { bm25_options_from_json({{"cjk_ngrams", {5}}}, "cfg"); }),
                             "lengths must lie in 1..4"));
  EXPECT_TRUE(test::contains(test::error_of([] { bm25_options_from_json({{"cjk_ngram", true}}, "cfg"); }),
                             "cfg: field 'cjk_ngram' is from an older funnel"));
  Bm25Options o = bm25_options_from_json(
      {{"k1", 1.2}, {"b", 0.75}, {"stemmer", "none"}, {"cjk_ngrams", {1, 2, 3}}, {"phrase_boost", 0.5}}, "cfg");
  EXPECT_EQ(o.cjk_ngrams, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(bm25_options_from_json(bm25_options_to_json(o), "rt").cjk_ngrams, o.cjk_ngrams);
  EXPECT_EQ(bm25_options_from_json(bm25_options_to_json(o), "rt").phrase_boost, 0.5);
  EXPECT_DOUBLE_EQ(o.k1, 1.2);
  EXPECT_DOUBLE_EQ(o.b, 0.75);
  EXPECT_EQ(o.stemmer, "none");
  EXPECT_EQ(bm25_options_from_json(bm25_options_to_json(o), "rt").b, 0.75);
  const Bm25Options p = bm25_options_from_json({{"prf_docs", 10}, {"prf_terms", 30}, {"prf_query_weight", 0.7}}, "cfg");
  const Bm25Options back = bm25_options_from_json(bm25_options_to_json(p), "rt");
  EXPECT_EQ(back.prf_docs, 10);
  EXPECT_EQ(back.prf_terms, 30);
  EXPECT_EQ(back.prf_query_weight, 0.7);
  EXPECT_TRUE(test::contains(test::error_of([] { bm25_options_from_json({{"prf_terms", 0}}, "cfg"); }),
                             "cfg: field 'prf_terms': expected an integer in 1..1000"));
  EXPECT_TRUE(test::contains(test::error_of([] { bm25_options_from_json({{"prf_query_weight", 1.5}}, "cfg"); }),
                             "cfg: field 'prf_query_weight'"));
  EXPECT_TRUE(test::contains(test::error_of([] { bm25_options_from_json({{"prf_docs", -1}}, "cfg"); }),
                             "cfg: field 'prf_docs'"));
}

TEST(IndexOpen, RefusesMissingOrDamagedIndex) {
  test::TempDir tmp;
  EXPECT_THROW(Index::open(tmp.path() / "nope"), Error);
  Corpus c = small_corpus({{"a", "x", "y"}});
  build_index(c, tmp.path() / "i", IndexOptions{});
  test::write_file(tmp.path() / "i" / "docs.tsv", "");
  try {
    Index::open(tmp.path() / "i");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("damaged index"), std::string::npos) << e.what();
  }
  test::write_file(tmp.path() / "i" / "manifest.json", R"({"format_version": 99, "docs": 1})");
  try {
    Index::open(tmp.path() / "i");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("format version 99"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace funnel
