#include "funnel/embedding_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>
#include <xxhash.h>

#include "funnel/error.h"
#include "util/fs.h"

namespace funnel {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kMagic[8] = {'F', 'N', 'L', 'E', 'M', 'B', '\0', '\1'};
constexpr std::size_t kHeaderBytes = 128;

struct Header {
  char magic[8];
  std::uint32_t format_version;
  std::uint32_t precision;
  std::uint64_t rows;
  std::uint32_t heads;
  std::uint32_t dim;
  std::uint64_t row_bytes;
  std::uint64_t checksum;
  char model_id[64];
  char reserved[16];
};
static_assert(sizeof(Header) == kHeaderBytes, "header layout");

std::size_t row_bytes_for(Precision p, std::size_t values) {
  switch (p) {
    case Precision::kFp32: return values * 4;
    case Precision::kFp16: return values * 2;
    case Precision::kInt8: return 4 + values;
  }
  return 0;
}

std::string version_file(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "v%06llu.emb", static_cast<unsigned long long>(v));
  return buf;
}

json read_manifest(const fs::path& dir) {
  fs::path p = dir / "manifest.json";
  if (!fs::exists(p)) return json();
  std::ifstream in(p);
  try {
    json m = json::parse(in);
    if (!m.is_object() || !m.contains("current") || !m["current"].is_number_unsigned() ||
        !m.contains("versions") || !m["versions"].is_array())
      throw Error(p.string() + ": expected {\"current\": N, \"versions\": [...]}");
    if (m.value("format_version", 0) != static_cast<int>(kStoreFormatVersion))
      throw Error(p.string() + ": field 'format_version': expected " + std::to_string(kStoreFormatVersion));
    return m;
  } catch (const json::exception& e) {
    throw Error(p.string() + ": malformed JSON (" + e.what() + ")");
  }
}

// Holds an exclusive flock on STORE/.lock so two publishers cannot take
// the same version number.
class PublishLock {
 public:
  explicit PublishLock(const fs::path& dir) {
    fs::path p = dir / ".lock";
    fd_ = ::open(p.c_str(), O_CREAT | O_RDWR, 0644);
    if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0) throw Error(p.string() + ": cannot lock the store for publishing");
  }
  ~PublishLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }

 private:
  int fd_ = -1;
};

}  // namespace

std::string precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kFp16: return "fp16";
    case Precision::kInt8: return "int8";
  }
  return "?";
}

Precision parse_precision(const std::string& name, const std::string& where) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "fp16") return Precision::kFp16;
  if (name == "int8") return Precision::kInt8;
  throw Error(where + ": unknown precision '" + name + "' (expected fp32, fp16 or int8)");
}

std::uint64_t current_store_version(const fs::path& dir) {
  json m = read_manifest(dir);
  return m.is_null() ? 0 : m["current"].get<std::uint64_t>();
}

std::uint64_t publish_store_version(const fs::path& dir, const StoreSpec& spec, std::span<const float> rows,
                                    std::size_t n) {
  if (spec.heads == 0 || spec.dim == 0) throw Error("embedding store: heads and dim must be >= 1");
  if (spec.model_id.size() > 63) throw Error("embedding store: model id longer than 63 bytes");
  const std::size_t values = static_cast<std::size_t>(spec.heads) * spec.dim;
  if (rows.size() != n * values)
    throw Error("embedding store: expected " + std::to_string(n * values) + " floats (" + std::to_string(n) +
                " rows x " + std::to_string(spec.heads) + " heads x " + std::to_string(spec.dim) + "), got " +
                std::to_string(rows.size()));
  for (float x : rows)
    if (!std::isfinite(x)) throw Error("embedding store: rows contain NaN or infinity");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create folder: " + ec.message());

  PublishLock lock(dir);
  json manifest = read_manifest(dir);
  if (manifest.is_null()) manifest = {{"format_version", kStoreFormatVersion}, {"current", 0}, {"versions", json::array()}};
  std::uint64_t version = 0;
  for (const auto& v : manifest["versions"]) version = std::max(version, v.value("version", std::uint64_t{0}));
  ++version;

  const std::size_t rb = row_bytes_for(spec.precision, values);
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.format_version = kStoreFormatVersion;
  h.precision = static_cast<std::uint32_t>(spec.precision);
  h.rows = n;
  h.heads = spec.heads;
  h.dim = spec.dim;
  h.row_bytes = rb;
  std::memcpy(h.model_id, spec.model_id.data(), spec.model_id.size());

  const fs::path file = dir / version_file(version);
  detail::AtomicFile out(file);
  std::ostream& os = out.stream();
  os.write(reinterpret_cast<const char*>(&h), sizeof h);  // checksum patched below
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  std::vector<std::uint8_t> buf(rb);
  for (std::size_t r = 0; r < n; ++r) {
    const float* src = rows.data() + r * values;
    switch (spec.precision) {
      case Precision::kFp32:
        std::memcpy(buf.data(), src, rb);
        break;
      case Precision::kFp16:
        for (std::size_t i = 0; i < values; ++i) {
          std::uint16_t v = float_to_half(src[i]);
          std::memcpy(buf.data() + 2 * i, &v, 2);
        }
        break;
      case Precision::kInt8: {
        // Symmetric per-row scale: the largest magnitude maps to 127.
        float amax = 0;
        for (std::size_t i = 0; i < values; ++i) amax = std::max(amax, std::fabs(src[i]));
        float scale = amax > 0 ? amax / 127.0f : 0.0f;
        std::memcpy(buf.data(), &scale, 4);
        for (std::size_t i = 0; i < values; ++i) {
          float q = scale > 0 ? std::nearbyint(src[i] / scale) : 0.0f;
          buf[4 + i] = static_cast<std::uint8_t>(static_cast<std::int8_t>(std::clamp(q, -127.0f, 127.0f)));
        }
        break;
      }
    }
    XXH3_64bits_update(state, buf.data(), rb);
    os.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(rb));
  }
  h.checksum = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  os.seekp(0);
  os.write(reinterpret_cast<const char*>(&h), sizeof h);
  out.commit();  // fsync + rename: the version file is complete before anyone can see it

  char sum[24];
  std::snprintf(sum, sizeof sum, "%016llx", static_cast<unsigned long long>(h.checksum));
  manifest["versions"].push_back({{"version", version}, {"file", version_file(version)}, {"model_id", spec.model_id},
                                  {"precision", precision_name(spec.precision)}, {"rows", n},
                                  {"heads", spec.heads}, {"dim", spec.dim}, {"checksum", sum}});
  manifest["current"] = version;
  detail::AtomicFile mf(dir / "manifest.json");
  mf.stream() << manifest.dump(2) << '\n';
  mf.commit();
  return version;
}

std::shared_ptr<const EmbeddingStore> EmbeddingStore::open(const fs::path& dir, std::uint64_t version,
                                                           bool verify_checksum, bool resident) {
  if (version == 0) {
    version = current_store_version(dir);
    if (version == 0) throw Error(dir.string() + ": no embedding store (manifest.json missing)");
  }
  const fs::path file = dir / version_file(version);
  const std::string where = file.string();
  int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) throw Error(where + ": cannot open store version " + std::to_string(version));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(where + ": cannot stat");
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size < kHeaderBytes) {
    ::close(fd);
    throw Error(where + ": truncated (" + std::to_string(size) + " bytes, header needs " +
                std::to_string(kHeaderBytes) + ")");
  }
  // MAP_POPULATE maps every page up front: serving then never takes a page
  // fault on a scattered candidate row (which cost ~1 us each).
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) throw Error(where + ": mmap failed");

  std::shared_ptr<EmbeddingStore> s(new EmbeddingStore());
  s->map_ = map;
  s->map_size_ = size;
  Header h;
  std::memcpy(&h, map, sizeof h);
  if (std::memcmp(h.magic, kMagic, 8) != 0) throw Error(where + ": not a funnel embedding store (bad magic)");
  if (h.format_version != kStoreFormatVersion)
    throw Error(where + ": format version " + std::to_string(h.format_version) + ", this build reads " +
                std::to_string(kStoreFormatVersion));
  if (h.precision > 2) throw Error(where + ": header field 'precision': unknown value " + std::to_string(h.precision));
  s->spec_.precision = static_cast<Precision>(h.precision);
  if (h.heads == 0 || h.dim == 0 || h.heads > 4096 || h.dim > 65536)
    throw Error(where + ": header fields 'heads'/'dim' out of range");
  s->spec_.heads = h.heads;
  s->spec_.dim = h.dim;
  if (h.row_bytes != row_bytes_for(s->spec_.precision, std::size_t{h.heads} * h.dim))
    throw Error(where + ": header field 'row_bytes' disagrees with precision, heads and dim");
  s->spec_.model_id.assign(h.model_id, strnlen(h.model_id, sizeof h.model_id));
  s->rows_ = h.rows;
  s->row_bytes_ = h.row_bytes;
  if (h.rows > (size - kHeaderBytes) / h.row_bytes || kHeaderBytes + h.rows * h.row_bytes != size)
    throw Error(where + ": truncated or padded: " + std::to_string(size) + " bytes, header promises " +
                std::to_string(kHeaderBytes + h.rows * h.row_bytes));
  s->payload_ = static_cast<const std::uint8_t*>(map) + kHeaderBytes;
  if (verify_checksum && XXH3_64bits(s->payload_, size - kHeaderBytes) != h.checksum)
    throw Error(where + ": checksum mismatch (the file is corrupt)");
  s->version_ = version;
  if (resident && size > kHeaderBytes) {
    const std::size_t huge = std::size_t{2} << 20;
    const std::size_t bytes = (size - kHeaderBytes + huge - 1) / huge * huge;
    void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) throw Error(where + ": cannot allocate " + std::to_string(bytes) + " bytes for a resident copy");
    ::madvise(mem, bytes, MADV_HUGEPAGE);  // best effort: fine if THP is off
    std::memcpy(mem, s->payload_, size - kHeaderBytes);
    ::mprotect(mem, bytes, PROT_READ);
    s->resident_ = mem;
    s->resident_size_ = bytes;
    s->payload_ = static_cast<const std::uint8_t*>(mem);
  }
  return s;
}

EmbeddingStore::~EmbeddingStore() {
  if (resident_) ::munmap(resident_, resident_size_);
  if (map_) ::munmap(map_, map_size_);
}

void EmbeddingStore::decode_row(std::size_t r, std::span<float> out) const {
  const std::size_t values = std::size_t{spec_.heads} * spec_.dim;
  if (r >= rows_ || out.size() != values) throw Error("embedding store: decode_row out of range");
  const std::uint8_t* p = raw_row(r);
  switch (spec_.precision) {
    case Precision::kFp32:
      std::memcpy(out.data(), p, values * 4);
      break;
    case Precision::kFp16:
      for (std::size_t i = 0; i < values; ++i) {
        std::uint16_t v;
        std::memcpy(&v, p + 2 * i, 2);
        out[i] = half_to_float(v);
      }
      break;
    case Precision::kInt8: {
      float scale;
      std::memcpy(&scale, p, 4);
      for (std::size_t i = 0; i < values; ++i) out[i] = static_cast<float>(static_cast<std::int8_t>(p[4 + i])) * scale;
      break;
    }
  }
}

}  // namespace funnel
