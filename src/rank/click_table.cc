#include "rank/click_table.h"

#include <algorithm>
#include <limits>

#include "funnel/error.h"

namespace funnel::rank {

namespace {

// splitmix64 finaliser: packed keys (id << 32 | id) need mixing before
// their low bits pick a slot.
std::size_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<std::size_t>(x);
}

}  // namespace

void add_impression(ClickStat& s, bool click) {
  if (s.impressions == std::numeric_limits<std::uint32_t>::max())
    throw Error("cross features: more than 2^32 - 1 impressions of one click key");
  ++s.impressions;
  s.clicks += click ? 1 : 0;
}

ClickTable::Slot& ClickTable::slot_for(std::uint64_t key) {
  // Load factor at most 1/2 keeps probe sequences short.
  if (2 * (size_ + 1) > slots_.size()) {
    std::vector<Slot> old(std::max<std::size_t>(16, 2 * slots_.size()));
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& o : old)
      if (o.key != kEmpty) {
        std::size_t i = mix(o.key) & mask;
        while (slots_[i].key != kEmpty) i = (i + 1) & mask;
        slots_[i] = o;
      }
  }
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = mix(key) & mask;
  while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask;
  return slots_[i];
}

void ClickTable::add(std::uint64_t key, bool click) {
  Slot& s = slot_for(key);
  if (s.key == kEmpty) {
    s.key = key;
    ++size_;
  }
  add_impression(s.stat, click);
}

bool ClickTable::insert(std::uint64_t key, const ClickStat& stat) {
  Slot& s = slot_for(key);
  if (s.key != kEmpty) return false;
  s.key = key;
  s.stat = stat;
  ++size_;
  return true;
}

const ClickStat* ClickTable::find(std::uint64_t key) const {
  if (slots_.empty()) return nullptr;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    if (slots_[i].key == key) return &slots_[i].stat;
    if (slots_[i].key == kEmpty) return nullptr;
  }
}

std::vector<std::pair<std::uint64_t, ClickStat>> ClickTable::sorted() const {
  std::vector<std::pair<std::uint64_t, ClickStat>> v;
  v.reserve(size_);
  for (const Slot& s : slots_)
    if (s.key != kEmpty) v.emplace_back(s.key, s.stat);
  std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  return v;
}

}  // namespace funnel::rank
