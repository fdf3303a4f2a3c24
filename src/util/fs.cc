#include "util/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
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

StagingDir::StagingDir(fs::path dest, bool overwrite, const char* marker) {
  if (dest.empty()) throw Error("output folder: empty path");
  // "out/" and "out/." name the folder "out": normalise before deriving the
  // parent and the temporary name.
  const std::string shown = dest.string();
  dest_ = fs::absolute(dest).lexically_normal();
  if (!dest_.has_filename()) dest_ = dest_.parent_path();
  std::error_code ec;
  if (fs::exists(dest_, ec)) {
    if (!fs::is_directory(dest_))
      throw Error(shown + ": exists and is not a folder");
    if (!fs::is_empty(dest_)) {
      if (!overwrite)
        throw Error(shown + ": folder exists and is not empty (use --force to replace it)");
      // --force replaces only what funnel wrote, never someone's data folder.
      if (!fs::exists(dest_ / "manifest.json") && !fs::exists(dest_ / "world.json") &&
          !(marker && fs::exists(dest_ / marker)))
        throw Error(shown + ": not a funnel output folder (no manifest.json or world.json); refusing to replace it");
    }
  }
  fs::path parent = dest_.parent_path();
  fs::create_directories(parent, ec);
  if (ec) throw Error(shown + ": cannot create parent folder " + parent.string() + ": " + ec.message());
  tmp_ = dest_;
  tmp_ += temp_suffix();
  fs::create_directory(tmp_, ec);
  if (ec) throw Error(shown + ": cannot create folder: " + ec.message());
}

void check_output_not_input(const fs::path& out, const fs::path& in) {
  std::error_code ec;
  fs::path o = fs::weakly_canonical(fs::absolute(out), ec), i = fs::weakly_canonical(fs::absolute(in), ec);
  auto inside = [](const fs::path& a, const fs::path& b) {  // a inside or equal to b
    auto [ai, bi] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
    return bi == b.end() || (bi->empty() && std::next(bi) == b.end());
  };
  if (inside(i, o))
    throw Error(out.string() + ": the output folder holds the input " + in.string() + "; choose another --out");
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
    if (ec) throw Error(dest_.string() + ": cannot move the old folder aside: " + ec.message());
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
