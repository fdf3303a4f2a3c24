// BM25 recall backed by Xapian: fields are indexed as unprefixed terms with
// per-field within-doc-frequency increments, so a field weight of w makes each
// of the field's words count w times, which is how Xapian expresses field
// boosts without changing the BM25 formula.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <xapian.h>

#include "funnel/error.h"
#include "funnel/recall.h"
#include "recall/rm3.h"
#include "text/analysis.h"
#include "text/analyzer.h"
#include "text/xapian_query.h"

namespace funnel {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The analysis an index was built with, stored in its metadata and checked
// when the channel opens it. "analyzer" is the analyser's format version:
// a change in how terms are made must bump it, so that old indexes are
// refused instead of silently mismatching the queries' terms.
constexpr int kAnalyzerVersion = 2;

json analysis_json(const Bm25Options& o) {
  return {{"analyzer", kAnalyzerVersion}, {"stemmer", o.stemmer}, {"cjk_ngrams", o.cjk_ngrams}};
}

// Accepts the documents of a given set only: lets Xapian weight given docs.
class RowSet final : public Xapian::MatchDecider {
 public:
  explicit RowSet(const std::vector<std::uint32_t>& rows) {
    for (auto r : rows) ids_.insert(static_cast<Xapian::docid>(r + 1));
  }
  bool operator()(const Xapian::Document& doc) const override { return ids_.count(doc.get_docid()) > 0; }

 private:
  std::unordered_set<Xapian::docid> ids_;
};

class Bm25Channel final : public RecallChannel {
 public:
  Bm25Channel(const fs::path& dir, const Bm25Options& o)
      : options_(o), analyzer_(text::analyzer_options(o), "bm25") {
    try {
      db_ = Xapian::Database(dir.string());
    } catch (const Xapian::Error& e) {
      throw Error(dir.string() + ": cannot open BM25 index: " + e.get_msg());
    }
    std::string built = db_.get_metadata("funnel.analysis");
    if (built.empty()) throw Error(dir.string() + ": not a funnel BM25 index (no analysis metadata)");
    const json want = analysis_json(o);
    if (json::parse(built, nullptr, false) != want)
      throw Error(dir.string() + ": index was built with analysis " + built + " but the channel asks for " +
                  want.dump() + "; rebuild the index (funnel index) with this funnel and these options");
  }

  std::string name() const override { return "bm25"; }

  std::vector<RecallHit> search(std::string_view query, std::size_t k) const override {
    std::vector<RecallHit> hits;
    if (k == 0) return hits;
    // Never more than the collection holds: also keeps k within doccount's range.
    const auto n = std::min<std::size_t>(k, db_.get_doccount());
    run(query, [&](Xapian::Enquire& enquire) {
      Xapian::MSet mset = enquire.get_mset(0, static_cast<Xapian::doccount>(n));
      hits.reserve(mset.size());
      for (auto it = mset.begin(); it != mset.end(); ++it)
        hits.push_back({static_cast<std::uint32_t>(*it - 1), it.get_weight()});
    });
    return hits;
  }

  std::vector<double> score_rows(std::string_view query, const std::vector<std::uint32_t>& rows) const override {
    std::vector<double> out(rows.size(), 0.0);
    if (rows.empty()) return out;
    for (auto r : rows)
      if (r >= db_.get_doccount())
        throw Error("bm25: row " + std::to_string(r) + " is out of range for an index of " +
                    std::to_string(db_.get_doccount()) + " docs");
    run(query, [&](Xapian::Enquire& enquire) {
      RowSet only(rows);
      Xapian::MSet mset = enquire.get_mset(0, static_cast<Xapian::doccount>(rows.size()), 0, nullptr, &only);
      std::unordered_map<Xapian::docid, double> w;
      for (auto it = mset.begin(); it != mset.end(); ++it) w[*it] = it.get_weight();
      for (std::size_t i = 0; i < rows.size(); ++i)
        if (auto it = w.find(static_cast<Xapian::docid>(rows[i] + 1)); it != w.end()) out[i] = it->second;
    });
    return out;
  }

 private:
  // Analyses `query`, builds its Xapian query and hands an Enquire set up
  // with the channel's BM25 to `fetch`. A Xapian error becomes a
  // funnel::Error (the pipeline adds the query and the stage).
  template <class Fetch>
  void run(std::string_view query, Fetch&& fetch) const {
    // The analyser's stemmer and Xapian's objects are not safe for
    // concurrent use; serialise per channel.
    std::lock_guard lock(mu_);
    try {
      const std::vector<text::Term> terms = analyzer_.analyse(query, 1, "bm25: query");
      Xapian::Query q = text::build_query(terms, options_.phrase_boost);
      if (q.empty()) return;
      Xapian::Enquire enquire(db_);
      enquire.set_weighting_scheme(
          Xapian::BM25Weight(options_.k1, options_.k2, options_.k3, options_.b, options_.min_normlen));
      if (options_.prf_docs > 0) q = expand(enquire, q, terms);
      enquire.set_query(q);
      fetch(enquire);
    } catch (const Xapian::Error& e) {
      throw Error("bm25: " + e.get_description());
    }
  }

  // RM3 (recall/rm3.h): the first pass `first` on `enquire`, its top
  // prf_docs docs' term lists, and the weighted query of the query's terms
  // and the expansion terms (each term once, OP_SCALE_WEIGHT by its RM3
  // weight). A compound of the query counts as its words here, and
  // phrase_boost applies to the first pass only. No feedback doc: `first`.
  Xapian::Query expand(Xapian::Enquire& enquire, const Xapian::Query& first, const std::vector<text::Term>& terms) const {
    enquire.set_query(first);
    const Xapian::MSet top = enquire.get_mset(0, static_cast<Xapian::doccount>(options_.prf_docs));
    if (top.empty()) return first;
    std::vector<std::pair<std::uint32_t, double>> hits;
    for (auto it = top.begin(); it != top.end(); ++it) hits.push_back({static_cast<std::uint32_t>(*it - 1), it.get_weight()});
    const auto expansion = recall::rm3_expansion(db_, hits, options_.prf_terms);
    std::vector<std::string> words;
    for (const auto& t : terms) words.push_back(t.text);
    std::vector<Xapian::Query> leaves;
    for (const auto& t : recall::rm3_mix(words, expansion, options_.prf_query_weight))
      if (t.weight > 0) leaves.emplace_back(Xapian::Query::OP_SCALE_WEIGHT, Xapian::Query(t.term), t.weight);
    return Xapian::Query(Xapian::Query::OP_OR, leaves.begin(), leaves.end());
  }

  Bm25Options options_;
  mutable text::Analyzer analyzer_;
  Xapian::Database db_;
  mutable std::mutex mu_;
};

// Indexes one field's text at positions from `pos` on, each occurrence
// adding `weight` to the term's within-doc frequency (and so to the doc
// length), as Xapian's TermGenerator::index_text(text, weight) does.
void index_field(text::Analyzer& a, std::string_view field, int weight, Xapian::termpos& pos, Xapian::Document& doc,
                 const std::string& where) {
  if (weight <= 0 || field.empty()) return;
  Xapian::termpos last = pos;
  for (const text::Term& t : a.analyse(field, pos, where)) {
    doc.add_posting(t.text, t.pos, static_cast<Xapian::termcount>(weight));
    last = std::max<Xapian::termpos>(last, t.pos);
  }
  pos = last + 100;  // a gap, as TermGenerator::increase_termpos(): no phrase across fields
}

}  // namespace

void build_bm25_index(const Corpus& corpus, const fs::path& dir, const Bm25Options& o,
                      const ProgressFn& progress) {
  for (auto [name, w] : {std::pair{"title_weight", o.title_weight},
                         {"text_weight", o.text_weight}, {"tags_weight", o.tags_weight}})
    if (w < 0) throw Error(std::string("bm25: ") + name + " must be >= 0, got " + std::to_string(w));
  text::Analyzer analyzer(text::analyzer_options(o), "bm25");
  try {
    Xapian::WritableDatabase db(dir.string(), Xapian::DB_CREATE_OR_OVERWRITE);
    const std::size_t n = corpus.docs.size();
    for (std::size_t row = 0; row < n; ++row) {
      const Doc& d = corpus.docs[row];
      const std::string where = "doc '" + d.id + "'";
      Xapian::Document doc;
      Xapian::termpos pos = 1;
      index_field(analyzer, d.title, o.title_weight, pos, doc, where + ": title");
      index_field(analyzer, d.text, o.text_weight, pos, doc, where + ": text");
      for (const auto& tag : d.tags) index_field(analyzer, tag, o.tags_weight, pos, doc, where + ": tags");
      doc.set_data(d.id);
      // Docid = row + 1 so that search hits map straight back to corpus rows.
      db.replace_document(static_cast<Xapian::docid>(row + 1), doc);
      if (progress && (row + 1) % 5000 == 0) progress(row + 1, n);
    }
    db.set_metadata("funnel.analysis", analysis_json(o).dump());
    db.commit();
    db.close();
    if (progress && n % 5000 != 0) progress(n, n);
  } catch (const Xapian::Error& e) {
    throw Error(dir.string() + ": building BM25 index failed: " + e.get_description());
  }
}

std::unique_ptr<RecallChannel> open_bm25_channel(const fs::path& dir, const Bm25Options& o) {
  return std::make_unique<Bm25Channel>(dir, o);
}

Bm25Options bm25_options_from_json(const json& j, const std::string& where) {
  Bm25Options o;
  if (j.is_null()) return o;
  if (!j.is_object()) throw Error(where + ": expected an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    auto num = [&](double lo, double hi) {
      if (!v.is_number()) throw Error(where + ": field '" + k + "': expected a number");
      double x = v.get<double>();
      if (!std::isfinite(x) || x < lo || x > hi)
        throw Error(where + ": field '" + k + "': expected a number in " + std::to_string(lo) + ".." +
                    std::to_string(hi) + ", got " + v.dump());
      return x;
    };
    auto integer = [&]() {
      // Field weights are within-doc frequency increments: small integers.
      if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > 1000)
        throw Error(where + ": field '" + k + "': expected an integer in 0..1000, got " + v.dump());
      return v.get<int>();
    };
    if (k == "k1") o.k1 = num(0, 1e6);
    else if (k == "k2") o.k2 = num(0, 1e6);
    else if (k == "k3") o.k3 = num(0, 1e6);
    else if (k == "b") o.b = num(0, 1);
    else if (k == "min_normlen") o.min_normlen = num(0, 1e6);
    else if (k == "prf_docs") o.prf_docs = integer();
    else if (k == "prf_terms") o.prf_terms = integer();
    else if (k == "prf_query_weight") o.prf_query_weight = num(0, 1);
    else if (k == "title_weight") o.title_weight = integer();
    else if (k == "text_weight") o.text_weight = integer();
    else if (k == "tags_weight") o.tags_weight = integer();
    else if (k == "stemmer") {
      if (!v.is_string()) throw Error(where + ": field 'stemmer': expected a string");
      o.stemmer = v.get<std::string>();
    } else if (k == "phrase_boost") {
      o.phrase_boost = num(0, 1e6);
    } else if (k == "cjk_ngrams") {
      if (!v.is_array()) throw Error(where + ": field 'cjk_ngrams': expected a list of n-gram lengths, e.g. [1, 2]");
      o.cjk_ngrams.clear();
      for (const json& x : v) {
        if (!x.is_number_integer()) throw Error(where + ": field 'cjk_ngrams': expected integers, got " + x.dump());
        o.cjk_ngrams.push_back(x.get<int>());
      }
    } else if (k == "cjk_ngram" || k == "query_syntax") {
      throw Error(where + ": field '" + k + "' is from an older funnel (" +
                  (k == "cjk_ngram" ? "now 'cjk_ngrams': [1, 2]" : "queries are never parsed for syntax now") +
                  "); rebuild the index or drop the field");
    } else {
      throw Error(where + ": unknown field '" + k + "'");
    }
  }
  if (o.prf_terms < 1) throw Error(where + ": field 'prf_terms': expected an integer in 1..1000, got " + std::to_string(o.prf_terms));
  text::validate(text::analyzer_options(o), where);
  return o;
}

json bm25_options_to_json(const Bm25Options& o) {
  return {{"k1", o.k1}, {"k2", o.k2}, {"k3", o.k3}, {"b", o.b}, {"min_normlen", o.min_normlen},
          {"stemmer", o.stemmer}, {"title_weight", o.title_weight},
          {"text_weight", o.text_weight}, {"tags_weight", o.tags_weight},
          {"cjk_ngrams", o.cjk_ngrams}, {"phrase_boost", o.phrase_boost}, {"prf_docs", o.prf_docs},
          {"prf_terms", o.prf_terms}, {"prf_query_weight", o.prf_query_weight}};
}

}  // namespace funnel
