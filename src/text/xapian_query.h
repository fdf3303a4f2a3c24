// The Xapian query of a user's text, built by funnel from the analyser's
// terms (text/analyzer.h) rather than by Xapian's QueryParser: there is no
// query syntax to get wrong, so no user text can make building the query
// throw, and a CJK run's n-grams are OR-ed like any other terms (the parser
// would AND them and most queries would match nothing).
#pragma once

#include <vector>

#include <xapian.h>

#include "text/analyzer.h"

namespace funnel::text {

// OR of one leaf per term occurrence, as Xapian's QueryParser builds an OR
// query (a word the query repeats weighs more: each leaf adds its BM25
// weight, with the term's query frequency in BM25's k3 factor). A compound
// (terms joined by - / . : \ @, Term::joined) is one OP_PHRASE leaf, so
// "x-ray" matches docs holding "x ray" as a phrase, as the parser does. With
// phrase_boost > 0 and terms at two or more positions, documents that also
// hold the whole query as a phrase (the first term at each position, in
// order) gain phrase_boost times the phrase's own weight:
// OR AND_MAYBE SCALE_WEIGHT(PHRASE). No terms: an empty query (matches
// nothing).
Xapian::Query build_query(const std::vector<Term>& terms, double phrase_boost = 0);

}  // namespace funnel::text
