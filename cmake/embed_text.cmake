# Writes the text file IN into OUT as a C++ string constant
# funnel::detail::kEmbeddedVocab, split into raw-string chunks.
file(READ "${IN}" content)
string(LENGTH "${content}" n)
set(body "")
set(pos 0)
while(pos LESS n)
  string(SUBSTRING "${content}" ${pos} 8000 chunk)
  string(APPEND body "R\"FUNNEL_EMBED(${chunk})FUNNEL_EMBED\"\n")
  math(EXPR pos "${pos} + 8000")
endwhile()
file(WRITE "${OUT}.tmp"
  "// Generated from data/world/vocab.txt by cmake/embed_text.cmake. Do not edit.\n"
  "#include <string_view>\n"
  "namespace funnel::detail {\n"
  "extern const std::string_view kEmbeddedVocab;\n"
  "const std::string_view kEmbeddedVocab =\n${body};\n"
  "}  // namespace funnel::detail\n")
file(RENAME "${OUT}.tmp" "${OUT}")
