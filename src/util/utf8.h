// UTF-8 validation and code-point iteration.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace funnel::detail {

inline constexpr std::size_t kValidUtf8 = static_cast<std::size_t>(-1);

// Byte offset of the first byte that does not start a well-formed UTF-8
// sequence (overlong forms, surrogates and code points above U+10FFFF are
// rejected), or kValidUtf8 when all of `s` is valid.
std::size_t find_invalid_utf8(std::string_view s);

// `s` quoted for an error message: 'text' when at most `max_bytes` long,
// else its first bytes up to a character boundary, "...' (N bytes)".
std::string quote_for_error(std::string_view s, std::size_t max_bytes = 80);

// Calls fn(character) for each code point of `s`, as the bytes that encode
// it (a lead byte and the continuation bytes 10xxxxxx after it). Does not
// validate: call find_invalid_utf8 first where the input is untrusted.
template <class Fn>
void for_each_code_point(std::string_view s, Fn&& fn) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i + 1;
    while (j < s.size() && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) ++j;
    fn(s.substr(i, j - i));
    i = j;
  }
}

}  // namespace funnel::detail
