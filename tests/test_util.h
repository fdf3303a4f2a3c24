// Helpers shared by the test suites.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "funnel/error.h"

namespace funnel::test {

// Where tests make their temporary folders: BUILD/test-tmp, wiped at the
// start of every ctest run (the "tmp" fixture), so a killed test leaves
// nothing behind in /tmp.
inline std::filesystem::path test_tmp_root() {
  std::filesystem::path root = FUNNEL_TEST_TMP;
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  return root;
}

// A fresh temporary folder, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (test_tmp_root() / "funnel-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& p, const std::string& content) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << content;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs the funnel CLI with `args` (a shell-quoted string). With
// with_stderr = false, stderr (progress lines) is dropped.
inline CommandResult run_cli(const std::string& args, bool with_stderr = true) {
  std::string cmd = "TMPDIR=" + test_tmp_root().string() + " " + std::string(FUNNEL_CLI) + " " + args +
                    (with_stderr ? " 2>&1" : " 2>/dev/null");
  CommandResult r{-1, ""};
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The message of the funnel::Error `f` throws, or a marker when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no funnel::Error thrown>";
}

inline bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// Mean of paired differences and its standard error (sample sd / sqrt(n)),
// for learning checks that must win by a margin on held-out queries.
struct PairedGain {
  double mean = 0, se = 0;
};
inline PairedGain paired_gain(const std::vector<double>& diffs) {
  PairedGain g;
  const auto n = static_cast<double>(diffs.size());
  if (diffs.size() < 2) return {std::nan(""), std::nan("")};
  for (double d : diffs) g.mean += d;
  g.mean /= n;
  double var = 0;
  for (double d : diffs) var += (d - g.mean) * (d - g.mean);
  g.se = std::sqrt(var / (n - 1) / n);
  return g;
}

// Expects f() to throw funnel::Error with `part` in its message.
inline void expect_error(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no funnel::Error (expected one mentioning '" << part << "')";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace funnel::test
