// An index folder: everything the online cascade reads, built offline by
// `funnel index`. Layout (docs/formats.md):
//   INDEX/manifest.json   format version, corpus size, per-part options
//   INDEX/docs.tsv        one line per corpus row: doc id <TAB> title
//   INDEX/bm25/           the Xapian BM25 database
// The folder is built under a temporary name and renamed into place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/data.h"
#include "funnel/recall.h"

namespace funnel {

inline constexpr int kIndexFormatVersion = 1;

struct IndexOptions {
  Bm25Options bm25;
  bool overwrite = false;  // replace an existing non-empty folder
};

// Builds the index of `corpus` into `out`. Throws funnel::Error; on error
// nothing is left at `out`.
void build_index(const Corpus& corpus, const std::filesystem::path& out,
                 const IndexOptions& options, const ProgressFn& progress = {});

// A read-only, opened index. Thread-safe for concurrent reads.
class Index {
 public:
  // Throws funnel::Error naming the file when the folder is missing, has a
  // different format version or is damaged.
  static std::shared_ptr<const Index> open(const std::filesystem::path& dir);

  std::size_t size() const { return ids_.size(); }
  const std::string& doc_id(std::uint32_t row) const { return ids_.at(row); }
  const std::string& title(std::uint32_t row) const { return titles_.at(row); }
  const nlohmann::json& manifest() const { return manifest_; }
  const std::filesystem::path& dir() const { return dir_; }

  // The recall channel called `name` ("bm25"), or nullptr.
  const RecallChannel* channel(const std::string& name) const;
  std::vector<std::string> channel_names() const;

 private:
  std::filesystem::path dir_;
  nlohmann::json manifest_;
  std::vector<std::string> ids_, titles_;
  std::vector<std::unique_ptr<RecallChannel>> channels_;
};

}  // namespace funnel
