#include "rank/cross_features.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include <xapian.h>

#include "funnel/error.h"
#include "text/analysis.h"

namespace funnel::rank {
namespace fs = std::filesystem;

namespace {

std::uint64_t pack(std::uint32_t hi, std::uint32_t lo) { return std::uint64_t{hi} << 32 | lo; }

void validate(const CrossFeatureOptions& o, const std::string& where) {
  auto check = [&](const char* name, double v, double lo, double hi) {
    if (!std::isfinite(v) || v < lo || v > hi)
      throw Error(where + ": option '" + name + "': expected a number in " + std::to_string(lo) + ".." +
                  (std::isinf(hi) ? std::string("inf") : std::to_string(hi)) + ", got " + std::to_string(v));
  };
  check("k1", o.bm25.k1, 0, HUGE_VAL);
  check("b", o.bm25.b, 0, 1);
  check("min_normlen", o.bm25.min_normlen, 0, HUGE_VAL);
  check("ctr_prior", o.ctr_prior, 0, HUGE_VAL);
  text::validate(text::analyzer_options(o.bm25), where);
}

}  // namespace

const std::array<std::string, CrossFeatures::kCount>& CrossFeatures::names() {
  static const std::array<std::string, kCount> kNames = {
      "bm25_title", "bm25_tags", "bm25_body", "bm25_all",
      "term_cover_title_tags", "term_cover_body", "pair_cover_title_tags", "phrase_in_title",
      "query_len", "title_len", "body_len",
      "click_pair", "click_term_doc", "click_term_author", "doc_ctr", "doc_impressions", "author_ctr"};
  return kNames;
}

std::uint32_t CrossFeatures::intern(const std::string& term) {
  auto [it, added] = term_ids_.try_emplace(term, static_cast<std::uint32_t>(terms_.size()));
  if (added) {
    if (terms_.size() >= kNoId) throw Error("cross features: more than 2^32 - 1 distinct terms");
    terms_.push_back(term);
  }
  return it->second;
}

void CrossFeatures::analyse(const Corpus& corpus, const std::string& where) {
  validate(options_, where);
  if (corpus.docs.size() >= kNoId)
    throw Error(where + ": corpus of " + std::to_string(corpus.docs.size()) + " docs; at most " +
                std::to_string(kNoId - 1) + " are supported");
  text::Analyzer analyzer(text::analyzer_options(options_.bm25), where);
  n_docs_ = corpus.docs.size();
  fingerprint_ = corpus_fingerprint(corpus);

  auto analyse_text = [&](std::string_view text, std::vector<std::uint32_t>& out) {
    for (const std::string& t : analyzer.terms(text, where)) out.push_back(intern(t));
  };
  std::vector<std::uint32_t> scratch;
  auto add_field = [&](FieldIndex& f, const std::vector<std::uint32_t>& seq) {
    scratch.assign(seq.begin(), seq.end());
    std::sort(scratch.begin(), scratch.end());
    for (std::size_t i = 0; i < scratch.size();) {
      std::size_t j = i;
      while (j < scratch.size() && scratch[j] == scratch[i]) ++j;
      f.postings.push_back({scratch[i], static_cast<std::uint32_t>(j - i)});
      i = j;
    }
    f.offsets.push_back(f.postings.size());
    f.lengths.push_back(static_cast<std::uint32_t>(seq.size()));
  };

  for (FieldIndex& f : fields_) {
    f.offsets.assign(1, 0);
    f.lengths.reserve(n_docs_);
  }
  title_offsets_.assign(1, 0);
  pair_offsets_.assign(1, 0);
  author_of_.assign(n_docs_, kNoId);
  std::vector<std::uint32_t> title, tags, body;
  std::vector<std::uint64_t> doc_pairs;
  for (std::size_t row = 0; row < n_docs_; ++row) {
    const Doc& d = corpus.docs[row];
    title.clear();
    tags.clear();
    body.clear();
    doc_pairs.clear();
    analyse_text(d.title, title);
    for (std::size_t i = 1; i < title.size(); ++i) doc_pairs.push_back(pack(title[i - 1], title[i]));
    for (const std::string& tag : d.tags) {
      const std::size_t start = tags.size();
      analyse_text(tag, tags);
      for (std::size_t i = start + 1; i < tags.size(); ++i) doc_pairs.push_back(pack(tags[i - 1], tags[i]));
    }
    analyse_text(d.text, body);
    std::sort(doc_pairs.begin(), doc_pairs.end());
    doc_pairs.erase(std::unique(doc_pairs.begin(), doc_pairs.end()), doc_pairs.end());
    pairs_.insert(pairs_.end(), doc_pairs.begin(), doc_pairs.end());
    pair_offsets_.push_back(pairs_.size());
    title_terms_.insert(title_terms_.end(), title.begin(), title.end());
    title_offsets_.push_back(title_terms_.size());
    add_field(fields_[kTitle], title);
    add_field(fields_[kTags], tags);
    add_field(fields_[kBody], body);
    if (!d.author.empty()) {
      auto [it, added] = author_ids_.try_emplace(d.author, static_cast<std::uint32_t>(authors_.size()));
      if (added) authors_.push_back(d.author);
      author_of_[row] = it->second;
    }
  }
  n_corpus_terms_ = static_cast<std::uint32_t>(terms_.size());

  const double n = static_cast<double>(n_docs_);
  double total_all = 0;
  for (FieldIndex& f : fields_) {
    f.df.assign(n_corpus_terms_, 0);
    for (const TermCount& tc : f.postings) ++f.df[tc.term];
    double total = 0;
    for (std::uint32_t len : f.lengths) total += len;
    f.avg_length = n_docs_ ? total / n : 0;
    total_all += total;
  }
  avg_length_all_ = n_docs_ ? total_all / n : 0;
  // A term in several fields of one doc counts once for the whole-doc field.
  df_all_.assign(n_corpus_terms_, 0);
  std::vector<std::uint32_t> last_row(n_corpus_terms_, kNoId);
  for (std::size_t row = 0; row < n_docs_; ++row)
    for (const FieldIndex& f : fields_)
      for (std::uint64_t i = f.offsets[row]; i < f.offsets[row + 1]; ++i) {
        const std::uint32_t t = f.postings[i].term;
        if (last_row[t] != row) {
          last_row[t] = static_cast<std::uint32_t>(row);
          ++df_all_[t];
        }
      }
}

CrossFeatures CrossFeatures::build(const Corpus& corpus, const std::vector<LoggedImpression>& logs,
                                   const CrossFeatureOptions& options) {
  const std::string where = "cross features";
  CrossFeatures f;
  f.options_ = options;
  f.analyse(corpus, where);
  if (logs.empty()) return f;

  text::Analyzer analyzer(text::analyzer_options(options.bm25), where);
  struct Analysed {
    std::uint32_t query_id;
    std::vector<std::uint32_t> terms;  // distinct
  };
  // Logs repeat their queries many times; analyse each raw string once.
  std::unordered_map<std::string, Analysed> seen;
  f.doc_stats_.assign(f.n_docs_, {});
  f.author_stats_.assign(f.authors_.size(), {});
  for (std::size_t i = 0; i < logs.size(); ++i) {
    const LoggedImpression& imp = logs[i];
    if (imp.row >= f.n_docs_)
      throw Error(where + ": logged impression " + std::to_string(i) + ": row " + std::to_string(imp.row) +
                  " is out of range for a corpus of " + std::to_string(f.n_docs_) + " docs");
    auto it = seen.find(imp.query);
    if (it == seen.end()) {
      Analysed a;
      std::string normalised;
      for (const std::string& term : analyzer.terms(imp.query, where + ": logged impression " + std::to_string(i))) {
        if (!normalised.empty()) normalised += ' ';
        normalised += term;
        const std::uint32_t id = f.intern(term);
        if (std::find(a.terms.begin(), a.terms.end(), id) == a.terms.end()) a.terms.push_back(id);
      }
      auto [q, added] = f.query_ids_.try_emplace(normalised, static_cast<std::uint32_t>(f.queries_.size()));
      if (added) f.queries_.push_back(normalised);
      a.query_id = q->second;
      it = seen.emplace(imp.query, std::move(a)).first;
    }
    const Analysed& a = it->second;
    const std::uint32_t author = f.author_of_[imp.row];
    f.pair_stats_.add(pack(a.query_id, imp.row), imp.click);
    for (std::uint32_t t : a.terms) {
      f.term_doc_stats_.add(pack(t, imp.row), imp.click);
      if (author != kNoId) f.term_author_stats_.add(pack(t, author), imp.click);
    }
    add_impression(f.doc_stats_[imp.row], imp.click);
    if (author != kNoId) add_impression(f.author_stats_[author], imp.click);
    ++f.total_impressions_;
    f.total_clicks_ += imp.click ? 1 : 0;
  }
  f.p0_ = static_cast<double>(f.total_clicks_) / static_cast<double>(f.total_impressions_);
  return f;
}

CrossFeatures::Prepared CrossFeatures::prepare(const std::string& query) const {
  Prepared p;
  // An analyser holds a stemmer, which is not safe to share between threads:
  // one per call keeps prepare() thread-safe. Options were validated at
  // construction.
  text::Analyzer analyzer(text::analyzer_options(options_.bm25), "cross features");
  p.terms = analyzer.terms(query, "cross features: query");
  std::unordered_map<std::string, std::uint32_t> unknown;
  std::unordered_set<std::uint32_t> distinct;
  for (const std::string& t : p.terms) {
    std::uint32_t id;
    if (auto it = term_ids_.find(t); it != term_ids_.end()) {
      id = it->second;
    } else {
      id = static_cast<std::uint32_t>(terms_.size() + unknown.size());
      id = unknown.try_emplace(t, id).first->second;
    }
    p.sequence.push_back(id);
    if (distinct.insert(id).second) p.distinct.push_back(id);
    if (!p.normalised.empty()) p.normalised += ' ';
    p.normalised += t;
  }
  const double n = static_cast<double>(n_docs_);
  for (std::size_t f = 0; f < 4; ++f) {
    p.idf[f].reserve(p.distinct.size());
    for (std::uint32_t t : p.distinct) {
      double df = 0;
      if (t < n_corpus_terms_) df = f == kAll ? df_all_[t] : fields_[f].df[t];
      p.idf[f].push_back(text::bm25_idf(n, df));
    }
  }
  for (std::size_t i = 1; i < p.sequence.size(); ++i) p.pairs.push_back(pack(p.sequence[i - 1], p.sequence[i]));
  std::sort(p.pairs.begin(), p.pairs.end());
  p.pairs.erase(std::unique(p.pairs.begin(), p.pairs.end()), p.pairs.end());
  if (auto it = query_ids_.find(p.normalised); it != query_ids_.end()) p.query_id = it->second;
  return p;
}

double CrossFeatures::smoothed(const ClickStat* s) const {
  if (!s || s->impressions == 0) return 0;  // unseen key: ctr = p0
  const double m = options_.ctr_prior;
  return (static_cast<double>(s->clicks) + m * p0_) / (static_cast<double>(s->impressions) + m) - p0_;
}

void CrossFeatures::compute(const Prepared& q, std::uint32_t row, float* out) const {
  if (row >= n_docs_)
    throw Error("cross features: row " + std::to_string(row) + " is out of range for a corpus of " +
                std::to_string(n_docs_) + " docs");
  auto tf = [&](const FieldIndex& f, std::uint32_t t) -> std::uint32_t {
    const TermCount* b = f.postings.data() + f.offsets[row];
    const TermCount* e = f.postings.data() + f.offsets[row + 1];
    const TermCount* it = std::lower_bound(b, e, t, [](const TermCount& tc, std::uint32_t x) { return tc.term < x; });
    return it != e && it->term == t ? it->count : 0;
  };
  auto bm25 = [&](double idf, std::uint32_t tf, double len, double avg) {
    return idf * text::bm25_tf_part(tf, len, avg, options_.bm25);
  };

  const double len_title = fields_[kTitle].lengths[row];
  const double len_tags = fields_[kTags].lengths[row];
  const double len_body = fields_[kBody].lengths[row];
  const double len_all = len_title + len_tags + len_body;
  double s_title = 0, s_tags = 0, s_body = 0, s_all = 0;
  std::size_t cover_tt = 0, cover_body = 0;
  for (std::size_t i = 0; i < q.distinct.size(); ++i) {
    const std::uint32_t t = q.distinct[i];
    if (t >= n_corpus_terms_) continue;  // in no doc
    const std::uint32_t tf_title = tf(fields_[kTitle], t);
    const std::uint32_t tf_tags = tf(fields_[kTags], t);
    const std::uint32_t tf_body = tf(fields_[kBody], t);
    s_title += bm25(q.idf[kTitle][i], tf_title, len_title, fields_[kTitle].avg_length);
    s_tags += bm25(q.idf[kTags][i], tf_tags, len_tags, fields_[kTags].avg_length);
    s_body += bm25(q.idf[kBody][i], tf_body, len_body, fields_[kBody].avg_length);
    s_all += bm25(q.idf[kAll][i], tf_title + tf_tags + tf_body, len_all, avg_length_all_);
    cover_tt += tf_title + tf_tags > 0;
    cover_body += tf_body > 0;
  }
  const double nq = static_cast<double>(q.distinct.size());
  out[kBm25Title] = static_cast<float>(s_title);
  out[kBm25Tags] = static_cast<float>(s_tags);
  out[kBm25Body] = static_cast<float>(s_body);
  out[kBm25All] = static_cast<float>(s_all);
  out[kTermCoverTitleTags] = nq > 0 ? static_cast<float>(cover_tt / nq) : 0.f;
  out[kTermCoverBody] = nq > 0 ? static_cast<float>(cover_body / nq) : 0.f;

  if (q.pairs.empty()) {
    out[kPairCoverTitleTags] = out[kTermCoverTitleTags];
  } else {
    const std::uint64_t* b = pairs_.data() + pair_offsets_[row];
    const std::uint64_t* e = pairs_.data() + pair_offsets_[row + 1];
    std::size_t hit = 0;
    for (std::uint64_t p : q.pairs) hit += std::binary_search(b, e, p);
    out[kPairCoverTitleTags] = static_cast<float>(static_cast<double>(hit) / static_cast<double>(q.pairs.size()));
  }
  {
    const std::uint32_t* b = title_terms_.data() + title_offsets_[row];
    const std::uint32_t* e = title_terms_.data() + title_offsets_[row + 1];
    const bool found = !q.sequence.empty() && std::search(b, e, q.sequence.begin(), q.sequence.end()) != e;
    out[kPhraseInTitle] = found ? 1.f : 0.f;
  }
  out[kQueryLen] = static_cast<float>(std::log1p(static_cast<double>(q.sequence.size())));
  out[kTitleLen] = static_cast<float>(std::log1p(len_title));
  out[kBodyLen] = static_cast<float>(std::log1p(len_body));

  for (std::size_t i = kClickPair; i < kCount; ++i) out[i] = 0;
  if (total_impressions_ == 0) return;
  if (q.query_id != kNoId) out[kClickPair] = static_cast<float>(smoothed(pair_stats_.find(pack(q.query_id, row))));
  const std::uint32_t author = author_of_[row];
  if (!q.distinct.empty()) {
    double by_doc = 0, by_author = 0;
    for (std::uint32_t t : q.distinct) {
      if (t >= terms_.size()) continue;  // a term no log query had: unseen keys
      by_doc += smoothed(term_doc_stats_.find(pack(t, row)));
      if (author != kNoId) by_author += smoothed(term_author_stats_.find(pack(t, author)));
    }
    out[kClickTermDoc] = static_cast<float>(by_doc / nq);
    out[kClickTermAuthor] = static_cast<float>(by_author / nq);
  }
  out[kDocCtr] = static_cast<float>(smoothed(&doc_stats_[row]));
  out[kDocImpressions] = static_cast<float>(std::log1p(static_cast<double>(doc_stats_[row].impressions)));
  if (author != kNoId) out[kAuthorCtr] = static_cast<float>(smoothed(&author_stats_[author]));
}

}  // namespace funnel::rank
