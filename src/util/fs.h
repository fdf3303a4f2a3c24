// Crash-safe output: files and folders are built under a temporary name next
// to their destination and renamed into place only when complete, so a crash
// or an error never leaves half an output where a whole one is expected.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

namespace funnel::detail {

// Writes one file atomically. Use stream(), then commit(); if commit() is not
// reached (exception, early return) the temporary file is removed.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path dest);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& stream() { return out_; }
  // Flushes, fsyncs and renames over the destination. Throws funnel::Error.
  void commit();

 private:
  std::filesystem::path dest_, tmp_;
  std::ofstream out_;
  bool done_ = false;
};

// Builds a folder atomically: write into path(), then commit(). Without
// commit() the temporary folder is removed. With overwrite = false, an
// existing non-empty destination is refused up front (funnel::Error); with
// overwrite = true, so is one funnel did not write: one holding neither
// manifest.json nor world.json, nor `marker` (a relative path, when given,
// that the caller's own outputs hold).
class StagingDir {
 public:
  StagingDir(std::filesystem::path dest, bool overwrite, const char* marker = nullptr);
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  const std::filesystem::path& path() const { return tmp_; }
  void commit();

 private:
  std::filesystem::path dest_, tmp_;
  bool done_ = false;
};

// Throws funnel::Error if `out` is `in` or contains it (an output folder
// replaced with --force must never take its input with it).
void check_output_not_input(const std::filesystem::path& out, const std::filesystem::path& in);

// fsyncs a file or folder by path; errors are ignored (best effort).
void fsync_path(const std::filesystem::path& p);

}  // namespace funnel::detail
