// A trained feed model folder (`funnel feed train`), opened for serving and
// evaluation: the data it was trained on (corpus + log), the feed state as
// of a log part, the user tower's precomputed user vectors and the item
// vectors, and the feed ranker's heads. Torch-free: the user tower runs
// offline, serving reads its vectors.
//
// Layout (docs/formats.md, "Feed model"):
//   MODEL/feed.json    {"format": "funnel-feed", "version": 1, "data": DATA
//                       (absolute), "options": FeedOptions, "vectors": {"dim",
//                       "items": "items.f32", "users": {"train": F, "dev": F,
//                       "test": F}} | null, "rank": {"heads": [...],
//                       "features": [...], "models": {HEAD: F}} | null}
//   MODEL/*.f32        raw little-endian float32, rows x dim
//   MODEL/rank-*.json  one GBDT per head (fusion/gbdt.h format)
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/feed.h"
#include "fusion/gbdt.h"

namespace funnel::feed {

inline constexpr int kFeedModelVersion = 1;

// A data folder's corpus and log, read once per process and shared.
struct FeedData {
  std::filesystem::path dir;
  Corpus corpus;
  FeedLog log;
  static std::shared_ptr<const FeedData> open(const std::filesystem::path& dir);
};

// "train", "dev", "test" <-> LogPart; throws funnel::Error naming `where`.
LogPart part_from_name(const std::string& name, const std::string& where);
const char* part_name(LogPart part);

class FeedModel {
 public:
  // Opens MODEL as of `as_of` (the state and the user vectors read the log
  // up to that part). Cached per (folder, part) while anyone holds it.
  // Throws funnel::Error naming the file.
  static std::shared_ptr<const FeedModel> open(const std::filesystem::path& dir, LogPart as_of);

  const std::filesystem::path& dir() const { return dir_; }
  const FeedData& data() const { return *data_; }
  const FeedState& state() const { return *state_; }
  std::shared_ptr<const FeedState> state_ptr() const { return state_; }

  // Vectors (dim() == 0: the model has none).
  std::size_t dim() const { return dim_; }
  std::span<const float> user_vector(std::uint32_t user) const;  // empty if none
  std::span<const float> item_vector(std::uint32_t item) const;
  // user_ann: the items with the highest inner product with the user's
  // vector, best first, never an excluded item (exact search, FAISS flat).
  std::vector<RecallHit> user_ann(std::uint32_t user, std::size_t k) const;

  // The ranker's heads (empty: no ranker) and their models, in head order.
  const std::vector<std::string>& heads() const { return heads_; }
  const std::vector<fusion::GbdtModel>& head_models() const { return head_models_; }
  const nlohmann::json& manifest() const { return manifest_; }

  ~FeedModel();

 private:
  FeedModel() = default;
  std::filesystem::path dir_;
  nlohmann::json manifest_;
  std::shared_ptr<const FeedData> data_;
  std::shared_ptr<const FeedState> state_;
  std::size_t dim_ = 0;
  std::vector<float> users_, items_;
  struct Ann;
  std::unique_ptr<Ann> ann_;
  std::vector<std::string> heads_;
  std::vector<fusion::GbdtModel> head_models_;
};

// Raw float32 files of the model folder: rows x dim, size checked.
std::vector<float> read_f32(const std::filesystem::path& file, std::size_t rows, std::size_t dim);
void write_f32(const std::filesystem::path& file, std::span<const float> values);

}  // namespace funnel::feed
