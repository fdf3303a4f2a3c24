// Vector recall: approximate nearest neighbours (FAISS) over the doc head
// vectors of the embedding store. Each doc contributes its nd head vectors;
// a query searches with each of its nq heads and a doc's score is its best
// inner product with any query head (MaxSim). The query tower is supplied
// through QueryEncoder, so this file needs no libtorch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/embedding_store.h"
#include "funnel/recall.h"

namespace funnel {

// Turns query text into head vectors (nq x dim floats). Thread-safe.
class QueryEncoder {
 public:
  virtual ~QueryEncoder() = default;
  virtual std::uint32_t heads() const = 0;
  virtual std::uint32_t dim() const = 0;
  virtual std::vector<float> encode(std::string_view query) const = 0;
};

struct AnnOptions {
  std::string type = "hnsw";  // "hnsw" (Malkov & Yashunin 2018) or "ivf" (inverted file, flat lists)
  int hnsw_m = 32;            // graph degree
  int ef_construction = 80;   // build-time beam
  int ef_search = 128;        // query-time beam (recall vs speed)
  int ivf_nlist = 0;          // IVF lists; 0 = 4 * sqrt(vectors)
  int ivf_nprobe = 16;        // IVF lists visited per query
};

// Builds the ANN index of every head vector of `store` into `file`
// (written aside and renamed). Throws funnel::Error.
void build_ann_index(const EmbeddingStore& store, const std::filesystem::path& file, const AnnOptions& options);

// Opens an ANN index built by build_ann_index as the recall channel "ann".
// `heads_per_doc` is the store's nd. Throws funnel::Error naming the file.
std::unique_ptr<RecallChannel> open_ann_channel(const std::filesystem::path& file,
                                                std::shared_ptr<const QueryEncoder> encoder,
                                                std::uint32_t heads_per_doc, const AnnOptions& options);

// Exact top-k by brute force over the same vectors (the reference for ANN
// recall in `funnel bench recall`). query: nq x dim. Returns corpus rows.
std::vector<std::uint32_t> exact_top_k(const EmbeddingStore& store, std::span<const float> query, std::uint32_t nq,
                                       std::size_t k);

}  // namespace funnel
