// Crash-safe outputs: nothing half-written is ever visible at the destination.
#include <gtest/gtest.h>

#include <filesystem>

#include "funnel/error.h"
#include "test_util.h"
#include "util/fs.h"
#include "util/utf8.h"

namespace funnel::detail {
namespace {
namespace fs = std::filesystem;

std::size_t entries(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

TEST(AtomicFile, UncommittedWriteLeavesNothing) {
  test::TempDir tmp;
  {
    AtomicFile f(tmp.path() / "out.txt");
    f.stream() << "half";
  }  // destroyed without commit, as when an exception unwinds
  EXPECT_EQ(entries(tmp.path()), 0u);
  {
    AtomicFile f(tmp.path() / "out.txt");
    f.stream() << "whole";
    f.commit();
  }
  EXPECT_EQ(test::read_file(tmp.path() / "out.txt"), "whole");
  EXPECT_EQ(entries(tmp.path()), 1u);
  EXPECT_THROW(AtomicFile(tmp.path() / "missing" / "x.txt"), Error);
}

TEST(StagingDir, FailureAfterWritingLeavesNothing) {
  test::TempDir tmp;
  try {
    StagingDir stage(tmp.path() / "out", false);
    test::write_file(stage.path() / "part.bin", "partial");
    throw Error("simulated failure half way");
  } catch (const Error&) {
  }
  EXPECT_EQ(entries(tmp.path()), 0u);
}

TEST(StagingDir, ReplacesOnlyFunnelOutputsAndNeverItsInput) {
  test::TempDir tmp;
  {
    StagingDir stage(tmp.path() / "out", false);
    test::write_file(stage.path() / "manifest.json", "{}");
    stage.commit();
  }
  test::write_file(tmp.path() / "out" / "old.txt", "x");
  {
    StagingDir stage(tmp.path() / "out/", true);  // trailing slash: same folder
    test::write_file(stage.path() / "manifest.json", "{\"v\": 2}");
    stage.commit();
  }
  EXPECT_FALSE(fs::exists(tmp.path() / "out" / "old.txt"));
  EXPECT_EQ(test::read_file(tmp.path() / "out" / "manifest.json"), "{\"v\": 2}");
  EXPECT_EQ(entries(tmp.path()), 1u);

  test::write_file(tmp.path() / "data" / "corpus.jsonl", "{}");
  EXPECT_THROW(StagingDir(tmp.path() / "data", true), Error);  // not a funnel output
  EXPECT_THROW(check_output_not_input(tmp.path() / "data", tmp.path() / "data"), Error);
  EXPECT_THROW(check_output_not_input(tmp.path(), tmp.path() / "data"), Error);
  EXPECT_NO_THROW(check_output_not_input(tmp.path() / "idx", tmp.path() / "data"));
  EXPECT_NO_THROW(check_output_not_input(tmp.path() / "data2", tmp.path() / "data"));
}

TEST(Utf8, FindsTheFirstBadByte) {
  EXPECT_EQ(find_invalid_utf8("plain ascii"), kValidUtf8);
  EXPECT_EQ(find_invalid_utf8("小猪佩奇 é"), kValidUtf8);
  EXPECT_EQ(find_invalid_utf8("ab\xff"), 2u);
  EXPECT_EQ(find_invalid_utf8("\xc3"), 0u);              // truncated sequence
  EXPECT_EQ(find_invalid_utf8("x\xc0\xaf"), 1u);         // overlong '/'
  EXPECT_EQ(find_invalid_utf8("\xed\xa0\x80"), 0u);      // surrogate
  EXPECT_EQ(find_invalid_utf8("\xf4\x90\x80\x80"), 0u);  // above U+10FFFF
}

}  // namespace
}  // namespace funnel::detail
