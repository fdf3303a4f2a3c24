// The offline doc-embedding store: one row per corpus doc holding its nd
// head vectors (heads x dim floats), stored as fp32, fp16 or int8 with a
// per-row scale, memory-mapped for serving.
//
// Folder layout:
//   STORE/manifest.json   {"format_version", "current": N, "versions": [...]}
//   STORE/v000001.emb     one file per version (header + rows), immutable
//
// Publishing: a new version is written under a temporary name, fsynced,
// renamed to vNNNNNN.emb, and only then does the manifest (itself replaced
// atomically) point at it. A reader that opened version N keeps its mapping
// of N, whatever is published later, until it chooses to open another.
//
// File format (little-endian), version 1:
//   [0, 128) header: magic "FNLEMB\0\1", format version u32, precision u32,
//            rows u64, heads u32, dim u32, row_bytes u64, payload checksum u64
//            (XXH3-64 of every byte after the header), model id (64 bytes,
//            NUL-padded)
//   [128, ...) rows, row_bytes each:
//            fp32: heads*dim floats; fp16: heads*dim IEEE half;
//            int8: one float scale, then heads*dim int8 (value = q * scale)
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace funnel {

enum class Precision : std::uint32_t { kFp32 = 0, kFp16 = 1, kInt8 = 2 };

// "fp32", "fp16", "int8"; parse_precision throws funnel::Error naming `where`.
std::string precision_name(Precision p);
Precision parse_precision(const std::string& name, const std::string& where);

inline constexpr std::uint32_t kStoreFormatVersion = 1;

struct StoreSpec {
  std::string model_id;   // at most 63 bytes; identifies the model that encoded the rows
  Precision precision = Precision::kFp32;
  std::uint32_t heads = 1;  // nd
  std::uint32_t dim = 0;    // head dimension
};

// Writes the rows of a new version of the store at `dir` (created if
// missing) and publishes it. `rows` is n x heads x dim floats, row-major.
// Returns the new version number (1 for a new store, else current + 1).
// Throws funnel::Error; on error nothing is published and no file is left.
std::uint64_t publish_store_version(const std::filesystem::path& dir, const StoreSpec& spec,
                                    std::span<const float> rows, std::size_t n);

// The version the manifest points at, or 0 if `dir` holds no store.
std::uint64_t current_store_version(const std::filesystem::path& dir);

// One opened, immutable version of a store. Thread-safe for reads.
class EmbeddingStore {
 public:
  // Opens version `version` (0 = the current one). Validates the header,
  // the file size and, if `verify_checksum`, the payload checksum; a corrupt
  // or truncated file is refused with funnel::Error naming it.
  // With `resident`, the rows are copied into anonymous memory backed by
  // transparent huge pages: scattered candidate reads then miss the TLB far
  // less often than on the 4 KiB pages of a file mapping (see
  // `funnel bench prerank`), at the price of a private copy.
  static std::shared_ptr<const EmbeddingStore> open(const std::filesystem::path& dir,
                                                    std::uint64_t version = 0,
                                                    bool verify_checksum = true, bool resident = false);
  ~EmbeddingStore();
  EmbeddingStore(const EmbeddingStore&) = delete;
  EmbeddingStore& operator=(const EmbeddingStore&) = delete;

  std::uint64_t version() const { return version_; }
  const StoreSpec& spec() const { return spec_; }
  std::size_t rows() const { return rows_; }
  std::size_t row_bytes() const { return row_bytes_; }

  // Raw row `r` as stored (see the file format); for serving kernels.
  const std::uint8_t* raw_row(std::size_t r) const { return payload_ + r * row_bytes_; }
  // Row `r` decoded into `out` (heads x dim floats).
  void decode_row(std::size_t r, std::span<float> out) const;

 private:
  EmbeddingStore() = default;
  std::uint64_t version_ = 0;
  StoreSpec spec_;
  std::size_t rows_ = 0, row_bytes_ = 0;
  void* map_ = nullptr;
  std::size_t map_size_ = 0;
  void* resident_ = nullptr;
  std::size_t resident_size_ = 0;
  const std::uint8_t* payload_ = nullptr;
};

// IEEE 754 half <-> float, round to nearest even (used by the store and the
// fp16 kernels).
std::uint16_t float_to_half(float f);
float half_to_float(std::uint16_t h);

}  // namespace funnel

namespace funnel {

// Head report (docs/techniques.md, section 3): the mean, over n items, of the cosine
// matrix between one item's own heads. `vecs` is n x heads x dim floats;
// returns heads x heads, row-major. Off-diagonal values near 1 mean the
// heads collapsed into one; near 0, they hold different senses.
std::vector<double> mean_head_cosine(std::span<const float> vecs, std::size_t n, std::uint32_t heads,
                                     std::uint32_t dim);

}  // namespace funnel
