#include "text/analysis.h"

#include "funnel/error.h"

namespace funnel::text {

Xapian::Stem make_stemmer(const std::string& language, const std::string& where) {
  if (language.empty() || language == "none") return Xapian::Stem();
  try {
    return Xapian::Stem(language);
  } catch (const Xapian::Error& e) {
    throw Error(where + ": field 'stemmer': unknown language '" + language + "' (" + e.get_msg() + ")");
  }
}

}  // namespace funnel::text
