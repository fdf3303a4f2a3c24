// The demo page end to end, in headless Chromium (Debian chromium +
// chromium-driver, driven over WebDriver): it types a query, searches, and
// checks that the results and the funnel of that request appear; then it
// flips the page's switches (ANN off, skip the DPP) and checks the request
// they sent took effect. Saves screenshots under var/screenshots/ of the
// source tree. The server listens on loopback only.
#include <gtest/gtest.h>

#include "funnel/pipeline.h"
#include "serve_util.h"
#include "webdriver.h"

namespace funnel {
namespace {
using nlohmann::json;

TEST(BrowserTest, SearchShowsResultsAndTheFunnel) {
  ASSERT_TRUE(test::WebDriver::available())
      << "chromium and chromium-driver are needed (scripts/install-deps.sh installs them)";
  test::TempDir tmp;
  ServerOptions o;
  o.index = test::index_dir();
  o.configs = {test::cascade_file(tmp.path(), "full", test::full_cascade()),
               test::cascade_file(tmp.path(), "bm25", default_cascade(100, 50))};
  o.web_dir = std::filesystem::path(FUNNEL_SOURCE_DIR) / "web";
  o.threads = 4;  // the browser keeps connections open
  test::RunningServer s(o);
  const std::string url = "http://127.0.0.1:" + std::to_string(s.port()) + "/";
  const std::filesystem::path shots = std::filesystem::path(FUNNEL_SOURCE_DIR) / "var" / "screenshots";

  test::WebDriver wd;
  wd.navigate(url);
  ASSERT_TRUE(wd.wait_until("return document.querySelectorAll('#cascade option').length == 2"))
      << "the page did not list the cascades from /v1/info";
  wd.type(wd.find("#query"), "pig cartoon");
  wd.click(wd.find("#search"));
  ASSERT_TRUE(wd.wait_for("#results li.result")) << "no results appeared";
  ASSERT_TRUE(wd.wait_for("#funnel .stage"));
  EXPECT_EQ(wd.find_all("#results li.result").size(), 10u);
  const auto stages = wd.find_all("#funnel .stage");
  ASSERT_EQ(stages.size(), 5u);  // recall, prerank, rank, fusion, dpp
  EXPECT_TRUE(test::contains(wd.text(stages[2]), "rank")) << wd.text(stages[2]);
  EXPECT_TRUE(test::contains(wd.text(stages[2]), "ms")) << wd.text(stages[2]);
  const std::string first = wd.text(wd.find("#results li.result"));
  EXPECT_TRUE(test::contains(first, "prerank")) << "the result does not show its scores through the stages:\n" << first;
  wd.screenshot(shots / "search.png");

  // The switches: ANN off and DPP skipped, sent as overrides.
  ASSERT_TRUE(wd.wait_for("#ann"));
  wd.click(wd.find("#ann"));
  wd.click(wd.find("#skip-dpp"));
  wd.click(wd.find("#search"));
  ASSERT_TRUE(wd.wait_for("#funnel .stage.skipped")) << "the DPP was not shown skipped";
  EXPECT_TRUE(wd.wait_until(
      "return [...document.querySelectorAll('#results .channel')].every(e => e.textContent.trim() != 'ann')"))
      << "an item found by ANN although the channel was off";
  wd.screenshot(shots / "search-switches.png");
  EXPECT_TRUE(std::filesystem::file_size(shots / "search.png") > 10000);
}

}  // namespace
}  // namespace funnel
