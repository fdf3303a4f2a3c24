// libFuzzer target for POST /v1/search without the HTTP: the bytes are the
// request body, handed to serve::handle_search() (what the server runs) and
// to serve::parse_search_request() alone. Built with clang++ and
// -fsanitize=fuzzer,address,undefined by tests/serve/fuzz.cmake; ctest runs
// it for 20 s on tests/serve/fuzz_corpus (test "fuzz.request").
//
// The contract checked for every input (any breach aborts with a message
// on stderr, which libFuzzer reports as a crash and saves the input):
//   - parse_search_request either returns or throws serve::BadRequest;
//     nothing else escapes it.
//   - handle_search never throws, and answers a status in {200, 400, 404,
//     413, 500, 504} with a body that is valid JSON.
//   - when parse_search_request refused the body with status S, the
//     handler answers S with the same message.
//   - 200: {"items": [...], "trace": [...], "cascade", "version", ...} with
//     at most k items (the request's k), "rank" 1, 2, ... in order, one
//     trace entry per stage of the chosen cascade (same names, same order),
//     "version" as served, and no "stages"/"pxtr" when "explain": false.
//   - otherwise: exactly {"error": {"status": S, "message": non-empty}}.
//
// The serving state is built once, on the first input: a 40-doc index
// (English and Chinese, a few authors and categories) in a fresh folder
// under $TMPDIR (removed at exit), and two cascades over it: "default"
// (BM25 50 -> truncate 20) and "rerank" (BM25 -> truncate -> an optional
// "rules" stage), users {"u1", "u2"}.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "funnel/server.h"
#include "serve/search_handler.h"
#include "serve/search_request.h"
#include "serve/serving_state.h"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace funnel;

[[noreturn]] void fail(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "request_fuzzer: contract broken: %s%s%s\n", what, detail.empty() ? "" : ": ",
               detail.substr(0, 2000).c_str());
  std::abort();
}
#define CHECK(cond, detail) \
  do {                      \
    if (!(cond)) fail(#cond, detail); \
  } while (0)

std::string g_tmp;  // the temp folder of the index, removed at exit
void remove_tmp() {
  std::error_code ec;
  if (!g_tmp.empty()) fs::remove_all(g_tmp, ec);
}

// 40 docs: 20 English, 20 Chinese, 5 authors, 3 categories (the rules
// stage then has authors to spread).
Corpus make_corpus() {
  static const char* const kEn[] = {"guitar lessons for beginners", "how to tune a guitar", "jazz guitar chords",
                                    "cooking pasta at home",        "quick dinner recipes", "street food tour",
                                    "learn piano in a week",        "piano and guitar duet", "travel vlog tokyo",
                                    "mountain hiking guide"};
  static const char* const kZh[] = {"吉他入门教程", "如何给吉他调音", "爵士吉他和弦", "在家做意大利面", "快手晚餐食谱",
                                    "街头美食之旅", "一周学会钢琴",   "钢琴吉他二重奏", "东京旅行日记", "登山徒步指南"};
  static const char* const kCat[] = {"music", "food", "travel"};
  Corpus c;
  for (int i = 0; i < 40; ++i) {
    const int t = i % 10;
    const bool zh = (i / 10) % 2 == 1;
    Doc d;
    d.id = "d" + std::to_string(i);
    d.title = zh ? kZh[t] : kEn[t];
    d.text = d.title + std::string(zh ? " 视频 第" : " video part ") + std::to_string(i / 20 + 1);
    d.author = "author" + std::to_string(i % 5);
    d.category = kCat[t < 3 || t == 6 || t == 7 ? 0 : t < 6 ? 1 : 2];
    c.row_of[d.id] = static_cast<std::uint32_t>(c.docs.size());
    c.docs.push_back(std::move(d));
  }
  return c;
}

const serve::ServingState& state() {
  static const serve::ServingState* s = [] {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/request_fuzzer.XXXXXX";
    if (!mkdtemp(pattern.data())) fail("mkdtemp", pattern);
    g_tmp = pattern;
    std::atexit(remove_tmp);
    build_index(make_corpus(), fs::path(g_tmp) / "index", IndexOptions{});
    auto* st = new serve::ServingState;  // never freed: lives as long as the process
    st->generation = 1;
    st->index = Index::open(fs::path(g_tmp) / "index");
    const json rerank = {
        {"stages",
         {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", 50}}}}},
          {{"name", "truncate"}, {"type", "truncate"}, {"keep", 20}},
          {{"name", "rules"},
           {"type", "rules"},
           {"optional", true},
           {"windows", {{{"field", "author"}, {"max", 1}, {"window", 3}}}}}}}};
    st->cascades.push_back({"default", std::make_shared<const Pipeline>(st->index, default_cascade(50, 20))});
    st->cascades.push_back({"rerank", std::make_shared<const Pipeline>(st->index, rerank, "rerank")});
    st->users = std::make_shared<const std::unordered_set<std::string>>(std::unordered_set<std::string>{"u1", "u2"});
    st->version = {{"generation", 1}, {"store_version", 0}};
    return st;
  }();
  return *s;
}

ServeLimits limits() {
  ServeLimits l;
  l.max_body_bytes = 4096;
  l.max_query_bytes = 256;
  l.max_k = 50;
  return l;
}

bool allowed(int status) {
  return status == 200 || status == 400 || status == 404 || status == 413 || status == 500 || status == 504;
}

void check_ok(const serve::ServingState& st, const serve::SearchRequest& sr, const serve::SearchOutcome& out,
              const json& j) {
  CHECK(out.cascade != nullptr, out.body);
  CHECK(j.is_object() && j.contains("items") && j["items"].is_array(), out.body);
  const json& items = j["items"];
  CHECK(items.size() <= sr.request.k && sr.request.k <= limits().max_k, out.body);
  for (std::size_t i = 0; i < items.size(); ++i) {
    CHECK(items[i].is_object() && items[i].value("rank", json()) == json(i + 1), out.body);
    if (!sr.explain) CHECK(!items[i].contains("stages") && !items[i].contains("pxtr"), out.body);
  }
  // The cascade that ran is the one the request named ("": the default).
  const serve::ServingState::Cascade* c = st.find(sr.cascade);
  CHECK(c != nullptr && c == out.cascade, sr.cascade);
  CHECK(j.value("cascade", json()) == json(c->name), out.body);
  CHECK(j.value("version", json()) == st.version, out.body);
  CHECK(j.contains("trace") && j["trace"].is_array(), out.body);
  const auto names = c->pipeline->stage_names();
  CHECK(j["trace"].size() == names.size(), out.body);
  for (std::size_t i = 0; i < names.size(); ++i)
    CHECK(j["trace"][i].is_object() && j["trace"][i].value("name", json()) == json(names[i]), out.body);
}

void check_error(const serve::SearchOutcome& out, const json& j) {
  CHECK(out.cascade == nullptr, out.body);
  CHECK(j.is_object() && j.size() == 1 && j.contains("error") && j["error"].is_object(), out.body);
  const json& e = j["error"];
  CHECK(e.size() == 2 && e.value("status", json()) == json(out.status), out.body);
  CHECK(e.contains("message") && e["message"].is_string() && !e["message"].get<std::string>().empty(), out.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const serve::ServingState& st = state();
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const ServeLimits lim = limits();

  // 1. The parser alone: a SearchRequest or a BadRequest, nothing else.
  std::unique_ptr<serve::SearchRequest> parsed;
  int refused = 0;  // the BadRequest's status, 0 when parsed
  std::string refused_message;
  try {
    parsed = std::make_unique<serve::SearchRequest>(serve::parse_search_request(body, lim));
  } catch (const serve::BadRequest& e) {
    refused = e.status();
    refused_message = e.what();
    CHECK(refused == 400 || refused == 413, refused_message);
    CHECK(!refused_message.empty(), "");
  } catch (const std::exception& e) {
    fail("parse_search_request threw something else than BadRequest", e.what());
  } catch (...) {
    fail("parse_search_request threw a non-std exception");
  }

  // 2. The handler: never throws, an allowed status, a JSON body.
  serve::SearchOutcome out;
  try {
    out = serve::handle_search(st, body, lim);
  } catch (const std::exception& e) {
    fail("handle_search threw", e.what());
  } catch (...) {
    fail("handle_search threw a non-std exception");
  }
  CHECK(allowed(out.status), std::to_string(out.status));
  const json j = json::parse(out.body, nullptr, /*allow_exceptions=*/false);
  CHECK(!j.is_discarded(), out.body);

  // 3. The two agree, and the body has the shape its status promises.
  if (refused) {
    CHECK(out.status == refused, out.body);
    // error_body() replaces bytes that are not UTF-8 (a field name cut at
    // 64 bytes may end inside a character): compare with the same done.
    const json expected = json::parse(json(refused_message).dump(-1, ' ', false, json::error_handler_t::replace));
    CHECK(j.is_object() && j.contains("error") && j["error"].is_object() &&
              j["error"].value("message", json()) == expected,
          out.body);
  } else {
    CHECK(out.status != 413, out.body);
  }
  if (out.status == 200) {
    CHECK(parsed != nullptr, out.body);
    check_ok(st, *parsed, out, j);
  } else {
    check_error(out, j);
  }
  return 0;
}
