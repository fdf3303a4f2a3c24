// BM25 recall backed by Xapian: fields are indexed as unprefixed terms with
// per-field within-doc-frequency increments, so a field weight of w makes each
// of the field's words count w times, which is how Xapian expresses field
// boosts without changing the BM25 formula.
#include <algorithm>
#include <cmath>
#include <mutex>

#include <nlohmann/json.hpp>
#include <xapian.h>

#include "funnel/error.h"
#include "funnel/recall.h"
#include "text/analysis.h"

namespace funnel {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

class Bm25Channel final : public RecallChannel {
 public:
  Bm25Channel(const fs::path& dir, const Bm25Options& o) : options_(o), stemmer_(text::make_stemmer(o.stemmer, "bm25")) {
    try {
      db_ = Xapian::Database(dir.string());
    } catch (const Xapian::Error& e) {
      throw Error(dir.string() + ": cannot open BM25 index: " + e.get_msg());
    }
    std::string built = db_.get_metadata("funnel.analysis");
    json want = {{"stemmer", o.stemmer}, {"cjk_ngram", o.cjk_ngram}};
    if (built.empty()) throw Error(dir.string() + ": not a funnel BM25 index (no analysis metadata)");
    if (json::parse(built) != want)
      throw Error(dir.string() + ": index was built with analysis " + built +
                  " but the channel asks for " + want.dump());
    parser_.set_stemmer(stemmer_);
    parser_.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
    parser_.set_database(db_);
    parser_.set_default_op(Xapian::Query::OP_OR);
  }

  std::string name() const override { return "bm25"; }

  std::vector<RecallHit> search(std::string_view query, std::size_t k) const override {
    std::vector<RecallHit> hits;
    if (k == 0) return hits;
    // Xapian objects are not safe for concurrent use; serialise per channel.
    std::lock_guard lock(mu_);
    unsigned flags = options_.query_syntax ? Xapian::QueryParser::FLAG_DEFAULT : 0;
    if (options_.cjk_ngram) flags |= Xapian::QueryParser::FLAG_CJK_NGRAM;
    Xapian::Query q;
    std::string text(query);
    try {
      q = parser_.parse_query(text, flags);
    } catch (const Xapian::QueryParserError&) {
      // Unbalanced quotes and the like: fall back to plain words.
      q = parser_.parse_query(text, options_.cjk_ngram ? Xapian::QueryParser::FLAG_CJK_NGRAM : 0);
    }
    Xapian::Enquire enquire(db_);
    enquire.set_query(q);
    enquire.set_weighting_scheme(Xapian::BM25Weight(options_.k1, options_.k2, options_.k3,
                                                    options_.b, options_.min_normlen));
    // Never more than the collection holds: also keeps k within doccount's range.
    const auto n = std::min<std::size_t>(k, db_.get_doccount());
    Xapian::MSet mset = enquire.get_mset(0, static_cast<Xapian::doccount>(n));
    hits.reserve(mset.size());
    for (auto it = mset.begin(); it != mset.end(); ++it)
      hits.push_back({static_cast<std::uint32_t>(*it - 1), it.get_weight()});
    return hits;
  }

 private:
  Bm25Options options_;
  Xapian::Stem stemmer_;
  Xapian::Database db_;
  mutable Xapian::QueryParser parser_;
  mutable std::mutex mu_;
};

}  // namespace

void build_bm25_index(const Corpus& corpus, const fs::path& dir, const Bm25Options& o,
                      const ProgressFn& progress) {
  for (auto [name, w] : {std::pair{"title_weight", o.title_weight},
                         {"text_weight", o.text_weight}, {"tags_weight", o.tags_weight}})
    if (w < 0) throw Error(std::string("bm25: ") + name + " must be >= 0, got " + std::to_string(w));
  try {
    Xapian::WritableDatabase db(dir.string(), Xapian::DB_CREATE_OR_OVERWRITE);
    Xapian::TermGenerator tg;
    tg.set_stemmer(text::make_stemmer(o.stemmer, "bm25"));
    tg.set_stemming_strategy(Xapian::TermGenerator::STEM_SOME);
    if (o.cjk_ngram) tg.set_flags(Xapian::TermGenerator::FLAG_CJK_NGRAM);
    const std::size_t n = corpus.docs.size();
    for (std::size_t row = 0; row < n; ++row) {
      const Doc& d = corpus.docs[row];
      Xapian::Document doc;
      tg.set_document(doc);
      if (o.title_weight > 0 && !d.title.empty()) {
        tg.index_text(d.title, o.title_weight);
        tg.increase_termpos();
      }
      if (o.text_weight > 0 && !d.text.empty()) {
        tg.index_text(d.text, o.text_weight);
        tg.increase_termpos();
      }
      if (o.tags_weight > 0)
        for (const auto& tag : d.tags) {
          tg.index_text(tag, o.tags_weight);
          tg.increase_termpos();
        }
      doc.set_data(d.id);
      // Docid = row + 1 so that search hits map straight back to corpus rows.
      db.replace_document(static_cast<Xapian::docid>(row + 1), doc);
      if (progress && (row + 1) % 5000 == 0) progress(row + 1, n);
    }
    db.set_metadata("funnel.analysis",
                    json{{"stemmer", o.stemmer}, {"cjk_ngram", o.cjk_ngram}}.dump());
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
    else if (k == "title_weight") o.title_weight = integer();
    else if (k == "text_weight") o.text_weight = integer();
    else if (k == "tags_weight") o.tags_weight = integer();
    else if (k == "stemmer") {
      if (!v.is_string()) throw Error(where + ": field 'stemmer': expected a string");
      o.stemmer = v.get<std::string>();
    } else if (k == "cjk_ngram" || k == "query_syntax") {
      if (!v.is_boolean()) throw Error(where + ": field '" + k + "': expected true/false");
      (k == "cjk_ngram" ? o.cjk_ngram : o.query_syntax) = v.get<bool>();
    } else {
      throw Error(where + ": unknown field '" + k + "'");
    }
  }
  text::make_stemmer(o.stemmer, where);  // validates the language name
  return o;
}

json bm25_options_to_json(const Bm25Options& o) {
  return {{"k1", o.k1}, {"k2", o.k2}, {"k3", o.k3}, {"b", o.b}, {"min_normlen", o.min_normlen},
          {"stemmer", o.stemmer}, {"title_weight", o.title_weight},
          {"text_weight", o.text_weight}, {"tags_weight", o.tags_weight},
          {"cjk_ngram", o.cjk_ngram}, {"query_syntax", o.query_syntax}};
}

}  // namespace funnel
