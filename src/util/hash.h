// A stable 64-bit string hash (FNV-1a), so that hashed ids (author buckets,
// word bags, fold assignments) are the same on every platform and build.
#pragma once

#include <cstdint>
#include <string_view>

namespace funnel::detail {

inline std::uint64_t stable_hash(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace funnel::detail
