#include "util/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <random>

#include "funnel/error.h"

namespace funnel::detail {
namespace fs = std::filesystem;

namespace {
// Unique within the process and across processes: pid plus a random tag.
std::string temp_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rng() % 1000000);
}
}  // namespace

void fsync_path(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

AtomicFile::AtomicFile(fs::path dest) : dest_(std::move(dest)) {
  if (dest_.has_parent_path() && !fs::is_directory(dest_.parent_path()))
    throw Error(dest_.string() + ": folder " + dest_.parent_path().string() +
                " does not exist");
  tmp_ = dest_;
  tmp_ += temp_suffix();
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  if (!out_) throw Error(dest_.string() + ": cannot open for writing");
}

AtomicFile::~AtomicFile() {
  if (!done_) {
    out_.close();
    std::error_code ec;
    fs::remove(tmp_, ec);
  }
}

void AtomicFile::commit() {
  out_.flush();
  if (!out_) throw Error(dest_.string() + ": write failed (disk full?)");
  out_.close();
  fsync_path(tmp_);
  std::error_code ec;
  fs::rename(tmp_, dest_, ec);
  if (ec) throw Error(dest_.string() + ": cannot rename into place: " + ec.message());
  done_ = true;
  if (dest_.has_parent_path()) fsync_path(dest_.parent_path());
}

StagingDir::StagingDir(fs::path dest, bool overwrite) : dest_(std::move(dest)) {
  if (dest_.empty()) throw Error("output folder: empty path");
  std::error_code ec;
  if (fs::exists(dest_, ec)) {
    if (!fs::is_directory(dest_))
      throw Error(dest_.string() + ": exists and is not a folder");
    if (!overwrite && !fs::is_empty(dest_))
      throw Error(dest_.string() + ": folder exists and is not empty (use --force to replace it)");
  }
  fs::path parent = fs::absolute(dest_).parent_path();
  fs::create_directories(parent, ec);
  if (ec) throw Error(parent.string() + ": cannot create folder: " + ec.message());
  tmp_ = fs::absolute(dest_);
  tmp_ += temp_suffix();
  fs::create_directory(tmp_, ec);
  if (ec) throw Error(tmp_.string() + ": cannot create folder: " + ec.message());
}

StagingDir::~StagingDir() {
  if (!done_) {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
}

void StagingDir::commit() {
  std::error_code ec;
  fs::path old;
  if (fs::exists(dest_)) {
    // Move the old folder aside first: rename() cannot replace a non-empty folder.
    old = fs::absolute(dest_);
    old += temp_suffix() + ".old";
    fs::rename(dest_, old, ec);
    if (ec) throw Error(dest_.string() + ": cannot move old folder aside: " + ec.message());
  }
  fs::rename(tmp_, dest_, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, dest_, ec);
    throw Error(dest_.string() + ": cannot rename into place: " + ec.message());
  }
  done_ = true;
  fsync_path(fs::absolute(dest_).parent_path());
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace funnel::detail
