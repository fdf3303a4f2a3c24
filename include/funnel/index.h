// An index folder: everything the online cascade reads, built offline by
// `funnel index`. Layout (docs/formats.md):
//   INDEX/manifest.json   format version, corpus size, per-part options
//   INDEX/docs.tsv        one line per corpus row: doc id <TAB> title <TAB> author <TAB> category
//   INDEX/bm25/           the Xapian BM25 database
//   INDEX/embeddings/     doc head vectors of the pre-rank model (optional),
//                         a versioned store (funnel/embedding_store.h)
//   INDEX/ann.faiss       FAISS index over those vectors (with embeddings)
// The folder is built under a temporary name and renamed into place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/data.h"
#include "funnel/ann.h"
#include "funnel/embedding_store.h"
#include "funnel/recall.h"

namespace funnel {

inline constexpr int kIndexFormatVersion = 1;

// Encodes docs into head vectors offline; implemented by the pre-rank model
// (src/prerank), so the index code needs no libtorch to build or read an
// index.
class DocEncoder {
 public:
  virtual ~DocEncoder() = default;
  virtual std::string model_id() const = 0;
  virtual std::string models_dir() const = 0;  // where serving finds the query tower
  virtual std::uint32_t heads() const = 0;      // nd
  virtual std::uint32_t dim() const = 0;        // head dimension
  // rows x heads x dim floats for every corpus row.
  virtual std::vector<float> encode(const Corpus& corpus, const ProgressFn& progress) const = 0;
};

// The doc tower of the pre-rank model trained into `models_dir` (`funnel
// fit`), for build_index and refresh_embeddings. Throws funnel::Error naming
// the missing or damaged file.
std::unique_ptr<DocEncoder> load_doc_encoder(const std::filesystem::path& models_dir);

struct IndexOptions {
  Bm25Options bm25;
  bool overwrite = false;                 // replace an existing non-empty folder
  const DocEncoder* encoder = nullptr;    // also build INDEX/embeddings when set
  Precision precision = Precision::kFp32; // of the embeddings
  AnnOptions ann;                         // ANN index over the embeddings (INDEX/ann.faiss)
};

// Builds the index of `corpus` into `out`. Throws funnel::Error; on error
// nothing is left at `out`.
void build_index(const Corpus& corpus, const std::filesystem::path& out,
                 const IndexOptions& options, const ProgressFn& progress = {});

// Re-encodes the docs of an existing index into embeddings version N+1 and
// publishes it; readers of version N are unaffected until they reopen.
// `corpus` must hold the index's docs in the same order. Returns N+1.
std::uint64_t refresh_embeddings(const std::filesystem::path& index_dir, const Corpus& corpus,
                                 const DocEncoder& encoder, Precision precision,
                                 const ProgressFn& progress = {});

// A read-only, opened index. Thread-safe for concurrent reads.
class Index {
 public:
  // Throws funnel::Error naming the file when the folder is missing, has a
  // different format version or is damaged.
  static std::shared_ptr<const Index> open(const std::filesystem::path& dir);

  std::size_t size() const { return ids_.size(); }
  const std::string& doc_id(std::uint32_t row) const { return ids_.at(row); }
  const std::string& title(std::uint32_t row) const { return titles_.at(row); }
  // The doc's author and category as small dense ids (0.. number of
  // distinct values - 1; "" is a value too), for the re-rank rules and the
  // diversity metrics, and their names.
  std::uint32_t author_id(std::uint32_t row) const { return author_of_.at(row); }
  std::uint32_t category_id(std::uint32_t row) const { return category_of_.at(row); }
  const std::vector<std::string>& author_names() const { return author_names_; }
  const std::vector<std::string>& category_names() const { return category_names_; }
  const nlohmann::json& manifest() const { return manifest_; }
  const std::filesystem::path& dir() const { return dir_; }

  // The doc embeddings (the store's current version when the index was
  // opened), or nullptr if the index has none.
  const std::shared_ptr<const EmbeddingStore>& embeddings() const { return embeddings_; }
  // The models folder the embeddings were encoded with ("" if none).
  const std::string& models_dir() const { return models_dir_; }
  // The ANN index file the manifest names ("" if none), and the store
  // version it was built from (0: not recorded, an index older than the
  // versioned ANN files). The ANN channel refuses an ANN index of another
  // version than embeddings() (a refresh half-way through).
  std::filesystem::path ann_file() const;
  std::uint64_t ann_store_version() const;

  // The recall channel called `name` ("bm25"), or nullptr.
  const RecallChannel* channel(const std::string& name) const;
  std::vector<std::string> channel_names() const;

 private:
  std::filesystem::path dir_;
  nlohmann::json manifest_;
  std::vector<std::string> ids_, titles_;
  std::vector<std::uint32_t> author_of_, category_of_;
  std::vector<std::string> author_names_, category_names_;
  std::vector<std::unique_ptr<RecallChannel>> channels_;
  std::shared_ptr<const EmbeddingStore> embeddings_;
  std::string models_dir_;
};

}  // namespace funnel
