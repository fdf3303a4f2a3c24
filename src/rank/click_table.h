// Click statistics keyed by a packed pair of 32-bit ids (query << 32 | row,
// term << 32 | author, ...): the counts behind the cross features' click
// features (rank/cross_features.h).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace funnel::rank {

// Impression and click counts of one click key.
struct ClickStat {
  std::uint32_t impressions = 0;
  std::uint32_t clicks = 0;
};

// Adds one impression (and a click if `click`). Throws funnel::Error if the
// impressions would pass 2^32 - 1.
void add_impression(ClickStat& s, bool click);

// Open-addressing hash table from a packed key to counts: one probe sequence
// in one array, so a lookup costs about one cache miss (std::unordered_map
// costs two or three). Keys are never ~0 (ids are < 2^32 - 1).
class ClickTable {
 public:
  // Adds one impression (and a click if `click`) to `key`. Throws
  // funnel::Error if a count would pass 2^32 - 1.
  void add(std::uint64_t key, bool click);
  // Inserts `key` with `s`; false (and no change) if `key` is present.
  bool insert(std::uint64_t key, const ClickStat& s);
  // The counts of `key`, or nullptr.
  const ClickStat* find(std::uint64_t key) const;
  // (key, counts) pairs sorted by key.
  std::vector<std::pair<std::uint64_t, ClickStat>> sorted() const;

 private:
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
  struct Slot {
    std::uint64_t key = kEmpty;
    ClickStat stat;
  };
  Slot& slot_for(std::uint64_t key);  // grows the table as needed
  std::vector<Slot> slots_;           // size 0 or a power of two
  std::size_t size_ = 0;
};

}  // namespace funnel::rank
