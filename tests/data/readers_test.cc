// Strict readers: every kind of bad input is refused with an error naming
// file:line and the field, and the CLI leaves nothing behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "funnel/data.h"
#include "funnel/error.h"
#include "test_util.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;

const char* kGood1 = R"({"id": "a", "title": "Peppa cartoon", "text": "pig", "tags": ["kids"], "image_vec": [0.5, 1]})";
const char* kGood2 = R"({"_id": "b", "title": "toy unboxing", "text": "", "author": "Sunny Lab", "category": "short", "image_vec": [1, 2]})";

// Reads `content` as a corpus and returns the error message ("" if none).
std::string corpus_error(const std::string& content) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "corpus.jsonl", content);
  try {
    read_corpus(tmp.path() / "corpus.jsonl");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ReadCorpus, ReadsFieldsAndBothIdSpellings) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "c.jsonl", std::string(kGood1) + "\n\n" + kGood2 + "\n");
  Corpus c = read_corpus(tmp.path() / "c.jsonl");
  ASSERT_EQ(c.docs.size(), 2u);
  EXPECT_EQ(c.docs[0].id, "a");
  EXPECT_EQ(c.docs[1].id, "b");
  EXPECT_EQ(c.docs[0].tags, std::vector<std::string>{"kids"});
  EXPECT_EQ(c.docs[1].author, "Sunny Lab");
  EXPECT_EQ(c.docs[1].category, "short");
  EXPECT_EQ(c.image_dim, 2);
  EXPECT_FLOAT_EQ(c.docs[1].image_vec[1], 2.0f);
  EXPECT_EQ(*c.find("b"), 1u);
  EXPECT_FALSE(c.find("zz").has_value());
}

TEST(ReadCorpus, AcceptsChineseText) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "c.jsonl", R"({"id": "z1", "title": "小猪佩奇 动画片", "text": "第一集"})" "\n");
  Corpus c = read_corpus(tmp.path() / "c.jsonl");
  EXPECT_EQ(c.docs[0].title, "小猪佩奇 动画片");
}

TEST(ReadCorpus, MalformedLineNamesFileAndLine) {
  std::string err = corpus_error(std::string(kGood1) + "\n{\"id\": \"x\", \"title\": \n");
  EXPECT_NE(err.find("corpus.jsonl:2:"), std::string::npos) << err;
  EXPECT_NE(err.find("malformed JSON"), std::string::npos) << err;
}

TEST(ReadCorpus, MissingId) {
  std::string err = corpus_error(std::string(kGood1) + "\n" + R"({"title": "no id here"})" + "\n");
  EXPECT_NE(err.find("corpus.jsonl:2:"), std::string::npos) << err;
  EXPECT_NE(err.find("missing id"), std::string::npos) << err;
}

TEST(ReadCorpus, EmptyId) {
  std::string err = corpus_error(R"({"id": "", "title": "x"})" "\n");
  EXPECT_NE(err.find("corpus.jsonl:1: field 'id': empty id"), std::string::npos) << err;
}

TEST(ReadCorpus, DuplicateId) {
  std::string err = corpus_error(std::string(kGood1) + "\n" + kGood2 + "\n" + kGood1 + "\n");
  EXPECT_NE(err.find("corpus.jsonl:3: field 'id': duplicate doc id 'a' (first seen at line 1)"), std::string::npos)
      << err;
}

TEST(ReadCorpus, WrongTypes) {
  std::string err = corpus_error(R"({"id": "a", "title": 42})" "\n");
  EXPECT_NE(err.find("corpus.jsonl:1: field 'title': expected a string, got integer"), std::string::npos) << err;
  err = corpus_error(R"({"id": "a", "tags": "one"})" "\n");
  EXPECT_NE(err.find("field 'tags': expected a list of strings"), std::string::npos) << err;
  err = corpus_error(R"({"id": "a", "tags": ["ok", 3]})" "\n");
  EXPECT_NE(err.find("field 'tags': element 1: expected a string"), std::string::npos) << err;
  err = corpus_error(R"({"id": "a", "image_vec": [1, "x"]})" "\n");
  EXPECT_NE(err.find("field 'image_vec': element 1: expected a number"), std::string::npos) << err;
  err = corpus_error(R"({"id": ["a"]})" "\n");
  EXPECT_NE(err.find("field 'id': expected a string id"), std::string::npos) << err;
  err = corpus_error(R"(["not", "an", "object"])" "\n");
  EXPECT_NE(err.find("corpus.jsonl:1: expected a JSON object"), std::string::npos) << err;
}

TEST(ReadCorpus, NonUtf8Bytes) {
  std::string err = corpus_error(std::string(kGood1) + "\n{\"id\": \"c\", \"title\": \"caf\xE9\"}\n");
  EXPECT_NE(err.find("corpus.jsonl:2: invalid UTF-8 at byte"), std::string::npos) << err;
}

TEST(ReadCorpus, VectorOfWrongDimension) {
  std::string err = corpus_error(std::string(kGood1) + "\n" + R"({"id": "c", "image_vec": [1, 2, 3]})" + "\n");
  EXPECT_NE(err.find("corpus.jsonl:2: field 'image_vec': expected 2 numbers (the dimension set at line 1), got 3"),
            std::string::npos)
      << err;
}

TEST(ReadCorpus, EmptyFileAndMissingFile) {
  EXPECT_NE(corpus_error("\n\n").find("no documents"), std::string::npos);
  try {
    read_corpus("/nonexistent/corpus.jsonl");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/corpus.jsonl: file not found"), std::string::npos);
  }
}

TEST(ReadQrels, HeaderGradesAndErrors) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "q.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td1\t1\n");
  Qrels q = read_qrels(tmp.path() / "q.tsv");
  EXPECT_EQ(q.at("q1").at("d1"), 2);
  EXPECT_EQ(q.at("q1").at("d2"), 0);
  EXPECT_EQ(q.at("q2").size(), 1u);
  test::write_file(tmp.path() / "bad.tsv", "query-id\tcorpus-id\tscore\nq1\td1\thigh\n");
  try {
    read_qrels(tmp.path() / "bad.tsv");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.tsv:2: column 'score': expected an integer grade, got 'high'"),
              std::string::npos)
        << e.what();
  }
  test::write_file(tmp.path() / "cols.tsv", "q1 d1 1\n");
  EXPECT_THROW(read_qrels(tmp.path() / "cols.tsv"), Error);
}

TEST(ReadImpressions, FieldsAndRangeChecks) {
  test::TempDir tmp;
  std::string good =
      R"({"request_id":"r1","query_id":"q1","user_id":"u1","doc_id":"d1","position":3,"click":1,"watch":0.5,"finish":false,"like":0,"share":0,"follow":true})";
  test::write_file(tmp.path() / "i.jsonl", good + "\n");
  auto ims = read_impressions(tmp.path() / "i.jsonl");
  ASSERT_EQ(ims.size(), 1u);
  EXPECT_EQ(ims[0].position, 3);
  EXPECT_TRUE(ims[0].click);
  EXPECT_TRUE(ims[0].follow);
  EXPECT_FLOAT_EQ(ims[0].watch, 0.5f);

  std::string bad = good;
  bad.replace(bad.find("0.5"), 3, "1.5");
  test::write_file(tmp.path() / "b.jsonl", good + "\n" + bad + "\n");
  try {
    read_impressions(tmp.path() / "b.jsonl");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("b.jsonl:2: field 'watch': expected a fraction in 0..1"), std::string::npos)
        << e.what();
  }
  bad = good;
  bad.replace(bad.find("\"click\":1"), 9, "\"click\":2");
  test::write_file(tmp.path() / "c.jsonl", bad + "\n");
  try {
    read_impressions(tmp.path() / "c.jsonl");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("c.jsonl:1: field 'click': expected true/false or 0/1"), std::string::npos)
        << e.what();
  }
}

// Queries, qrels and impressions are as strict as the corpus.
std::string error_of(const std::function<void(const fs::path&)>& read, const std::string& name,
                     const std::string& content) {
  test::TempDir tmp;
  test::write_file(tmp.path() / name, content);
  try {
    read(tmp.path() / name);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ReadQueries, EveryBadInputNamesLineAndField) {
  auto read = [](const fs::path& p) { read_queries(p); };
  const std::string ok = "{\"_id\": \"q1\", \"text\": \"peppa\"}\n";
  EXPECT_NE(error_of(read, "queries.jsonl", ok + "{\"text\": \"x\"}\n").find("queries.jsonl:2: missing id"),
            std::string::npos);
  EXPECT_NE(error_of(read, "queries.jsonl", ok + ok).find("queries.jsonl:2: field 'id': duplicate query id 'q1'"),
            std::string::npos);
  EXPECT_NE(error_of(read, "queries.jsonl", ok + "{\"id\": \"q2\", \"text\": \"\xc3\"}\n")
                .find("queries.jsonl:2: invalid UTF-8"),
            std::string::npos);
  EXPECT_NE(error_of(read, "queries.jsonl", "{\"id\": \"q2\", \"text\": 5}\n")
                .find("queries.jsonl:1: field 'text': expected a string, got integer"),
            std::string::npos);
  EXPECT_NE(error_of(read, "queries.jsonl", "{\"id\": \"q2\", \"text\": \"  \"}\n").find("field 'text': empty query"),
            std::string::npos);
  EXPECT_NE(error_of(read, "queries.jsonl", "{\"id\": \"q 2\", \"text\": \"x\"}\n").find("field 'id': id contains"),
            std::string::npos);
  EXPECT_EQ(error_of(read, "queries.jsonl", "{\"id\": 18446744073709551615, \"text\": \"x\"}\n{\"id\": -1, \"text\": \"y\"}\n"),
            "")
      << "distinct integer ids must stay distinct";
}

TEST(ReadQrels, NonUtf8AndConflicts) {
  auto read = [](const fs::path& p) { read_qrels(p); };
  EXPECT_NE(error_of(read, "q.tsv", "query-id\tcorpus-id\tscore\nq\xff\td\t1\n").find("q.tsv:2: invalid UTF-8"),
            std::string::npos);
  EXPECT_NE(error_of(read, "q.tsv", "q\td\t1\nq\td\t2\n").find("q.tsv:2: conflicting grades"), std::string::npos);
  EXPECT_NE(error_of(read, "q.tsv", "q\t\t1\n").find("q.tsv:1: column 'corpus-id': empty"), std::string::npos);
}

TEST(ReadImpressions, EveryBadInputNamesLineAndField) {
  auto read = [](const fs::path& p) { read_impressions(p); };
  const std::string good =
      R"({"request_id":"r1","query_id":"q1","user_id":"u1","doc_id":"d1","position":0,"click":0,"watch":0,"finish":0,"like":0,"share":0,"follow":0})";
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return good + "\n" + s + "\n";
  };
  EXPECT_NE(error_of(read, "i.jsonl", with("\"position\":0", "\"position\":\"top\"")).find("i.jsonl:2: field 'position': expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of(read, "i.jsonl", with("\"position\":0", "\"position\":-3")).find("i.jsonl:2: field 'position'"),
            std::string::npos);
  EXPECT_NE(error_of(read, "i.jsonl", with("\"like\":0,", "")).find("i.jsonl:2: field 'like': missing"), std::string::npos);
  EXPECT_NE(error_of(read, "i.jsonl", with("\"doc_id\":\"d1\"", "\"doc_id\":\"d\xe2\x82\"")).find("i.jsonl:2: invalid UTF-8"),
            std::string::npos);
  EXPECT_NE(error_of(read, "i.jsonl", with("\"watch\":0", "\"watch\":true")).find("i.jsonl:2: field 'watch': expected a number"),
            std::string::npos);
  EXPECT_NE(error_of(read, "i.jsonl", good + "\n{not json}\n").find("i.jsonl:2: malformed JSON"), std::string::npos);
}

// The CLI turns each bad corpus into a nonzero exit and an error naming the
// place, and leaves no index folder (nor a temporary one) behind.
TEST(IndexCli, BadCorpusLeavesNothingBehind) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string(kGood1) + "\n{\"id\": \"x\",\n", "corpus.jsonl:2: malformed JSON"},
      {std::string(kGood1) + "\n{\"title\": \"t\"}\n", "corpus.jsonl:2: missing id"},
      {std::string(kGood1) + "\n" + kGood1 + "\n", "corpus.jsonl:2: field 'id': duplicate doc id 'a'"},
      {std::string(kGood1) + "\n{\"id\": \"c\", \"text\": 7}\n", "corpus.jsonl:2: field 'text': expected a string"},
      {std::string(kGood1) + "\n{\"id\": \"c\", \"text\": \"\xff\xfe\"}\n", "corpus.jsonl:2: invalid UTF-8"},
      {std::string(kGood1) + "\n{\"id\": \"c\", \"image_vec\": [1]}\n",
       "corpus.jsonl:2: field 'image_vec': expected 2 numbers"},
  };
  for (const auto& [content, expected] : cases) {
    test::TempDir tmp;
    test::write_file(tmp.path() / "data" / "corpus.jsonl", content);
    auto r = test::run_cli("index --data " + (tmp.path() / "data").string() + " --out " +
                           (tmp.path() / "out" / "idx").string());
    EXPECT_NE(r.exit_code, 0) << expected;
    EXPECT_NE(r.output.find("funnel: error:"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << "expected '" << expected << "' in: " << r.output;
    EXPECT_FALSE(fs::exists(tmp.path() / "out" / "idx")) << expected;
    // No temporary folder either.
    if (fs::exists(tmp.path() / "out")) {
      EXPECT_TRUE(fs::is_empty(tmp.path() / "out")) << expected;
    }
  }
}

TEST(IndexCli, RefusesToOverwriteItsInputAndAcceptsTrailingSlash) {
  test::TempDir tmp;
  test::write_file(tmp.path() / "data" / "corpus.jsonl", std::string(kGood1) + "\n");
  test::write_file(tmp.path() / "data" / "world.json", "{}");
  auto r = test::run_cli("index --data " + (tmp.path() / "data").string() + " --out " + (tmp.path() / "data").string() +
                         " --force");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("holds the input"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(tmp.path() / "data" / "corpus.jsonl"));
  r = test::run_cli("index --data " + (tmp.path() / "data").string() + " --out " + (tmp.path() / "idx").string() + "/");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp.path() / "idx" / "manifest.json"));
  r = test::run_cli("index --data " + (tmp.path() / "data").string() + " --out " + (tmp.path() / "i2").string() +
                    " --b nan");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(fs::exists(tmp.path() / "i2"));
  r = test::run_cli("search --index " + (tmp.path() / "idx").string() + " --config " + tmp.path().string() + " peppa");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("not a file"), std::string::npos) << r.output;
  r = test::run_cli("search --index " + (tmp.path() / "idx").string() + " \"$(printf 'pep\\377pa')\"");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("invalid UTF-8"), std::string::npos) << r.output;
  EXPECT_EQ(test::run_cli("search --index " + (tmp.path() / "idx").string() + " --k 0 peppa").exit_code, 2);
}

// TMP/data: two docs, one query judged on doc "a"; TMP/idx: its index.
void make_tiny_indexed_data(const fs::path& tmp) {
  test::write_file(tmp / "data" / "corpus.jsonl", std::string(kGood1) + "\n" + kGood2 + "\n");
  test::write_file(tmp / "data" / "queries.jsonl", "{\"_id\": \"q1\", \"text\": \"peppa\"}\n");
  test::write_file(tmp / "data" / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq1\ta\t1\n");
  ASSERT_EQ(test::run_cli("index --data " + (tmp / "data").string() + " --out " + (tmp / "idx").string()).exit_code, 0);
}

TEST(EvalCli, FailedReportLeavesNoRunFile) {
  test::TempDir tmp;
  const std::string data = (tmp.path() / "data").string(), idx = (tmp.path() / "idx").string();
  ASSERT_NO_FATAL_FAILURE(make_tiny_indexed_data(tmp.path()));
  auto r = test::run_cli("eval --index " + idx + " --data " + data + " --run " + (tmp.path() / "run.trec").string() +
                         " --report " + (tmp.path() / "nowhere" / "r.md").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(fs::exists(tmp.path() / "run.trec"));
  r = test::run_cli("eval --index " + idx + " --data " + data + " --run " + (tmp.path() / "run.trec").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(test::read_file(tmp.path() / "run.trec").find("q1 Q0 a 1 "), std::string::npos);
}

TEST(EvalCli, BadRunPathAndUnknownSplit) {
  test::TempDir tmp;
  const std::string data = (tmp.path() / "data").string(), idx = (tmp.path() / "idx").string();
  ASSERT_NO_FATAL_FAILURE(make_tiny_indexed_data(tmp.path()));
  auto r = test::run_cli("eval --index " + idx + " --data " + data + " --split dev");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("no qrels for split 'dev'"), std::string::npos) << r.output;
  // A queries file with a bad line: error, and no run file written.
  test::write_file(tmp.path() / "data" / "queries.jsonl", "{\"_id\": \"q1\", \"text\": \"peppa\"}\n{\"_id\": \"q2\"}\n");
  r = test::run_cli("eval --index " + idx + " --data " + data + " --run " + (tmp.path() / "run.trec").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("queries.jsonl:2: field 'text': missing"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp.path() / "run.trec"));
}

}  // namespace
}  // namespace funnel
