#include "nn/doc_text.h"

namespace funnel::nn {

std::string doc_text(const Doc& d) {
  std::string s = d.title;
  for (const auto& t : d.tags) s += " " + t;
  if (!d.text.empty()) s += " " + d.text;
  return s;
}

std::string doc_title_text(const Doc& d) {
  std::string s = d.title;
  for (const auto& t : d.tags) s += " " + t;
  return s;
}

}  // namespace funnel::nn
