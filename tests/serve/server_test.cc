// The HTTP service (funnel/server.h) on the trained fixture: every endpoint,
// every kind of bad input (answered 4xx, state unchanged), misbehaving
// clients, the deadlines, the drain, and reloads that succeed or are
// refused. Servers listen on 127.0.0.1 only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "funnel/error.h"
#include "funnel/pipeline.h"
#include "funnel/stage.h"
#include "serve_util.h"
#include "test_stages.h"

namespace funnel {
namespace {
using nlohmann::json;
using test::RunningServer;

// The first user id of the fixture world.
std::string first_user() {
  std::ifstream in(test::world_dir() / "users.jsonl");
  std::string line;
  std::getline(in, line);
  return json::parse(line)["id"].get<std::string>();
}

class ServerTest : public ::testing::Test {
 protected:
  ServerOptions options(const std::vector<std::pair<std::string, json>>& cascades = {}) {
    ServerOptions o;
    o.index = test::index_dir();
    for (const auto& [name, c] : cascades) o.configs.push_back(test::cascade_file(tmp_.path(), name, c));
    o.users = test::world_dir() / "users.jsonl";
    o.threads = 2;
    o.limits.read_timeout_s = 1;
    return o;
  }
  test::TempDir tmp_;
};

TEST_F(ServerTest, SearchAnswersWithTheTraceOfEveryStage) {
  RunningServer s(options({{"full", test::full_cascade()}, {"bm25", default_cascade(100, 50)}}));
  auto [status, r] = s.search(json{{"query", "pig cartoon"}, {"k", 5}, {"user_id", first_user()}});
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["cascade"], "full");  // the first config is the default
  EXPECT_EQ(r["version"]["generation"], 1);
  ASSERT_EQ(r["trace"].size(), 5u);
  EXPECT_EQ(r["trace"][2]["name"], "rank");
  EXPECT_EQ(r["trace"][2]["out"], 20);
  ASSERT_EQ(r["items"].size(), 5u);
  const json& first = r["items"][0];
  EXPECT_EQ(first["rank"], 1);
  EXPECT_FALSE(first["channels"].empty());
  EXPECT_EQ(first["stages"].size(), 5u);  // a mark at every stage it passed
  EXPECT_TRUE(first["pxtr"].contains("click")) << first.dump();
  // The same request without the per-item trace, on the other cascade.
  auto [s2, lean] = s.search(json{{"query", "pig cartoon"}, {"k", 5}, {"explain", false}, {"cascade", "bm25"}});
  ASSERT_EQ(s2, 200);
  EXPECT_EQ(lean["cascade"], "bm25");
  EXPECT_FALSE(lean["items"][0].contains("stages"));
  EXPECT_FALSE(lean["items"][0].contains("pxtr"));
  EXPECT_EQ(lean["trace"].size(), 2u);
}

TEST_F(ServerTest, HealthInfoMetricsAndTheWebPage) {
  ServerOptions o = options({{"full", test::full_cascade()}});
  o.web_dir = std::filesystem::path(FUNNEL_SOURCE_DIR) / "web";
  RunningServer s(o);
  auto c = s.client();
  auto h = c.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto info = c.Get("/v1/info");
  ASSERT_TRUE(info && info->status == 200);
  json i = json::parse(info->body);
  EXPECT_EQ(i["default_cascade"], "full");
  EXPECT_EQ(i["version"]["store_version"], 1);
  EXPECT_TRUE(i["version"]["models"]["rank"].get<std::string>().starts_with("rank-")) << i["version"].dump();
  ASSERT_EQ(i["cascades"][0]["stages"].size(), 5u);
  EXPECT_EQ(i["cascades"][0]["stages"][4]["optional"], true);
  EXPECT_EQ(i["cascades"][0]["stages"][3]["info"]["type"], "formula");
  ASSERT_EQ(s.search(json{{"query", "pig"}}).first, 200);
  ASSERT_EQ(s.search(json{{"query", ""}}).first, 400);
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m && m->status == 200);
  EXPECT_TRUE(test::contains(m->get_header_value("Content-Type"), "text/plain"));
  for (const char* line : {"funnel_http_requests_total{endpoint=\"search\",status=\"200\"} 1",
                           "funnel_http_requests_total{endpoint=\"search\",status=\"400\"} 1",
                           "funnel_search_duration_seconds_count 2",
                           "funnel_stage_duration_seconds_count{cascade=\"full\",stage=\"rank\"} 1",
                           "funnel_stage_candidates_bucket{cascade=\"full\",stage=\"rank\",le=\"50\"} 1",
                           "funnel_serving_info{generation=\"1\",store_version=\"1\""})
    EXPECT_TRUE(test::contains(m->body, line)) << line << "\n" << m->body;
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_TRUE(test::contains(page->body, "<input id=\"query\"")) << page->body.substr(0, 300);
  auto js = c.Get("/app.js");
  ASSERT_TRUE(js && js->status == 200);
  EXPECT_TRUE(test::contains(js->get_header_value("Content-Type"), "javascript"));
}

// Each bad request: its status and a part of its message. None may change
// what the server answers afterwards.
TEST_F(ServerTest, BadInputIsA4xxNamingTheProblemAndChangesNothing) {
  ServerOptions o = options({{"full", test::full_cascade()}});
  o.limits.max_body_bytes = 4096;
  o.limits.max_query_bytes = 200;
  o.limits.max_k = 50;
  RunningServer s(o);
  const json good = {{"query", "pig cartoon"}, {"k", 5}, {"explain", false}};
  auto [s0, before] = s.search(good);
  ASSERT_EQ(s0, 200);
  const std::vector<std::tuple<std::string, int, std::string>> cases = {
      {"{\"query\": \"pig\"", 400, "malformed JSON"},
      {"[1, 2]", 400, "expected a JSON object"},
      {"", 400, "malformed JSON"},
      {R"({"query": 42})", 400, "field 'query': expected a string"},
      {R"({"query": "pig", "k": "ten"})", 400, "field 'k': expected an integer in [1, 50]"},
      {R"({"query": "pig", "k": 0})", 400, "field 'k'"},
      {R"({"query": "pig", "k": 51})", 400, "field 'k'"},
      {R"({"query": "pig", "k": -3})", 400, "field 'k'"},
      {R"({"query": "pig", "k": 2.5})", 400, "field 'k'"},
      {R"({"query": "pig", "explain": "yes"})", 400, "field 'explain'"},
      {R"({"query": "pig", "colour": "red"})", 400, "unknown field 'colour'"},
      {R"({"k": 3})", 400, "field 'query': missing"},
      {R"({"query": "   "})", 400, "field 'query': empty"},
      {json{{"query", std::string(201, 'a')}}.dump(), 400, "field 'query': 201 bytes, the limit is 200"},
      {"{\"query\": \"pig \xff\"}", 400, "malformed JSON"},
      {R"({"query": "pig", "user_id": "nobody"})", 400, "unknown user 'nobody'"},
      {R"({"query": "pig", "user_id": 7})", 400, "field 'user_id'"},
      {R"({"query": "pig", "cascade": "none"})", 400, "no cascade named 'none' (serving: full)"},
      {R"({"query": "pig", "overrides": {"nope": {}}})", 400, "no stage named 'nope'"},
      {R"({"query": "pig", "overrides": {"dpp": {"theta": "high"}}})", 400, "overrides.dpp"},
      {R"({"query": "pig", "overrides": {"rank": {"skip": true}}})", 400, "stage 'rank' is not optional"},
      {R"({"query": "pig", "overrides": {"recall": {"quota": {"bm26": 5}}}})", 400, "no channel named 'bm26'"},
      {R"({"query": "pig", "overrides": []})", 400, "field 'overrides'"},
      {R"({"query": "pig", "deadline_ms": -1})", 400, "field 'deadline_ms'"},
      {json{{"query", "pig"}, {"pad", std::string(5000, 'x')}}.dump(), 413, "too large"},
      {std::string("{\"query\": \"pig\"}\0}} junk", 24), 400, "a NUL byte"},
      {"{\"query\": \"pig\", \"k\": " + std::string(40, '[') + std::string(40, ']') + "}", 400, "nested deeper than 32"},
  };
  for (const auto& [body, status, part] : cases) {
    auto [got, r] = s.search(body);
    EXPECT_EQ(got, status) << body.substr(0, 80) << " -> " << r.dump();
    ASSERT_TRUE(r.is_object() && r.contains("error")) << body.substr(0, 80);
    EXPECT_EQ(r["error"]["status"], status);
    EXPECT_TRUE(test::contains(r["error"]["message"].get<std::string>(), part))
        << body.substr(0, 80) << " -> " << r["error"]["message"];
  }
  auto c = s.client();
  auto nf = c.Get("/v2/nothing");
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->status, 404);
  EXPECT_TRUE(test::contains(nf->body, "no such path")) << nf->body;
  auto get = c.Get("/v1/search");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  // The same answer as before, from the same version.
  auto [s1, after] = s.search(good);
  ASSERT_EQ(s1, 200);
  EXPECT_EQ(after["items"], before["items"]);
  EXPECT_EQ(after["version"], before["version"]);
}

TEST_F(ServerTest, PathsOutsideTheWebFolderAreRefused) {
  ServerOptions o = options();
  o.web_dir = std::filesystem::path(FUNNEL_SOURCE_DIR) / "web";
  RunningServer s(o);
  for (const char* path : {"/../CMakeLists.txt", "/..%2fCMakeLists.txt", "/%2e%2e/%2e%2e/etc/passwd", "/../../../etc/passwd"}) {
    auto r = test::raw_exchange(s.port(), std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                false, 3000);
    EXPECT_TRUE(r.data.starts_with("HTTP/1.1 4")) << path << ": " << r.data.substr(0, 120);
    EXPECT_FALSE(test::contains(r.data, "cmake_minimum_required")) << path;
    EXPECT_FALSE(test::contains(r.data, "root:")) << path;
  }
}

TEST_F(ServerTest, SlowAndHalfClosedClientsDoNotHoldTheServer) {
  RunningServer s(options());  // read timeout 1 s, 2 workers
  // A client that promises a body and stalls is cut off after the read timeout.
  std::thread slow([&] {
    auto r = test::raw_exchange(s.port(), "POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"q", false,
                                10000);
    EXPECT_TRUE(r.closed) << "the stalled connection was not closed";
    EXPECT_LT(r.ms, 5000) << "the stalled connection was held past the read timeout";
  });
  // Meanwhile others are served.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(s.search(json{{"query", "pig"}}).first, 200);
  // A client that sends half a request line and closes its side.
  auto half = test::raw_exchange(s.port(), "POST /v1/sea", true, 5000);
  EXPECT_TRUE(half.closed);
  // A client that connects and sends nothing.
  auto mute = test::raw_exchange(s.port(), "", false, 5000);
  EXPECT_TRUE(mute.closed);
  slow.join();
  EXPECT_EQ(s.search(json{{"query", "pig"}}).first, 200);
}

TEST_F(ServerTest, OptionalStagePastItsDeadlineIsSkippedAndTheTotalDeadlineIs504) {
  json cascade = test::full_cascade();
  cascade["stages"][4]["deadline_ms"] = 1e-6;  // the DPP can never end in time
  RunningServer s(options({{"full", cascade}}));
  auto [st, r] = s.search(json{{"query", "pig cartoon"}, {"k", 5}});
  ASSERT_EQ(st, 200) << r.dump();
  EXPECT_EQ(r["trace"][4]["skipped"], true);
  EXPECT_TRUE(test::contains(r["trace"][4]["notes"][0].get<std::string>(), "deadline"));
  EXPECT_EQ(r["items"].size(), 5u);
  // The page's switch: skipping on request.
  auto [st2, r2] = s.search(json{{"query", "pig cartoon"}, {"overrides", {{"dpp", {{"skip", true}}}}}});
  ASSERT_EQ(st2, 200);
  EXPECT_EQ(r2["trace"][4]["skipped"], true);
  // A request whose own deadline cannot be met.
  auto [st3, r3] = s.search(json{{"query", "pig cartoon"}, {"deadline_ms", 1e-6}});
  EXPECT_EQ(st3, 504);
  EXPECT_TRUE(test::contains(r3["error"]["message"].get<std::string>(), "past its deadline")) << r3.dump();
}

TEST_F(ServerTest, DrainFinishesRequestsInFlightAndRefusesNewOnes) {
  test::register_sleep_stage();  // to hold a request in flight
  json slow = default_cascade(50, 20);
  slow["stages"].push_back({{"name", "sleep"}, {"type", "test_sleep"}, {"ms", 600}});
  RunningServer s(options({{"slow", slow}}));
  std::atomic<int> in_flight_status{0};
  std::thread client([&] { in_flight_status = s.search(json{{"query", "pig"}}).first; });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the request is sleeping now
  std::size_t left = 99;
  std::thread drainer([&] { left = s.server().drain(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // While draining: refused (503), or no answer once the listener is shut.
  auto [refused, body] = s.search(json{{"query", "pig"}});
  EXPECT_TRUE(refused == 503 || refused == -1) << refused;
  if (refused == 503) {
    EXPECT_TRUE(test::contains(body["error"]["message"].get<std::string>(), "shutting down"));
  }
  client.join();
  drainer.join();
  EXPECT_EQ(in_flight_status.load(), 200) << "the request in flight did not finish";
  EXPECT_EQ(left, 0u);
  EXPECT_TRUE(s.stopped_within(std::chrono::seconds(10))) << "run() did not return after the drain";
  EXPECT_EQ(s.search(json{{"query", "pig"}}).first, -1) << "still answering after the drain";
}

TEST_F(ServerTest, SigtermDrainsAndExitsZero) {
  const std::string out = (tmp_.path() / "serve.out").string();
  const std::string index = test::index_dir().string();
  // The complete funnel: its model runtime starts threads of its own, which
  // a signal may land on.
  const std::string config = test::cascade_file(tmp_.path(), "full", test::full_cascade()).string();
  std::vector<std::string> args = {FUNNEL_CLI, "serve", "--index", index, "--config", config, "--port", "0", "--no-web"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  int port = 0;
  for (int i = 0; i < 300 && !port; ++i) {  // up to 30 s to load
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::string text = test::read_file(out);
    if (auto at = text.find("http://127.0.0.1:"); at != std::string::npos) port = std::atoi(text.c_str() + at + 17);
  }
  if (!port) ::kill(pid, SIGKILL);
  ASSERT_GT(port, 0) << test::read_file(out);
  httplib::Client c("127.0.0.1", port);
  auto r = c.Post("/v1/search", R"({"query": "pig"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(test::contains(r->body, "\"rank\"")) << r->body.substr(0, 300);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 400 && done == 0; ++i) {  // 20 s at most
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    done = ::waitpid(pid, &status, WNOHANG);
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "still running 20 s after SIGTERM:\n" << test::read_file(out);
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n" << test::read_file(out);
  const std::string log = test::read_file(out);
  EXPECT_TRUE(test::contains(log, "SIGTERM: draining")) << log;
  EXPECT_TRUE(test::contains(log, "serve: stopped")) << log;
}

}  // namespace
}  // namespace funnel
