// The text a model reads from a doc, in one place for every model and for
// tokenizer training. Torch-free.
#pragma once

#include <string>

#include "funnel/data.h"

namespace funnel::nn {

// Title, then tags, then body, separated by spaces.
std::string doc_text(const Doc& d);
// Title, then tags.
std::string doc_title_text(const Doc& d);

}  // namespace funnel::nn
