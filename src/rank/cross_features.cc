#include "rank/cross_features.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <unordered_set>

#include <xapian.h>
#include <xxhash.h>

#include "funnel/error.h"
#include "util/fs.h"

namespace funnel::rank {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[5] = {'F', 'N', 'L', 'X', 'F'};
constexpr std::uint32_t kVersion = 1;

std::uint64_t pack(std::uint32_t hi, std::uint32_t lo) { return std::uint64_t{hi} << 32 | lo; }

bool is_word_byte(unsigned char c) {
  return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Calls fn(word) for every lower-cased word of `text` (see the header for the
// word rule). `word` is reused between calls.
template <class Fn>
void for_each_word(std::string_view text, Fn&& fn) {
  std::string word;
  for (unsigned char c : text) {
    if (is_word_byte(c)) {
      word.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c));
    } else if (!word.empty()) {
      fn(word);
      word.clear();
    }
  }
  if (!word.empty()) fn(word);
}

Xapian::Stem make_stemmer(const std::string& lang, const std::string& where) {
  if (lang.empty() || lang == "none") return Xapian::Stem();
  try {
    return Xapian::Stem(lang);
  } catch (const Xapian::Error& e) {
    throw Error(where + ": option 'stemmer': unknown language '" + lang + "' (" + e.get_msg() + ")");
  }
}

void validate(const CrossFeatureOptions& o, const std::string& where) {
  auto check = [&](const char* name, double v, double lo, double hi) {
    if (!std::isfinite(v) || v < lo || v > hi)
      throw Error(where + ": option '" + name + "': expected a number in " + std::to_string(lo) + ".." +
                  (std::isinf(hi) ? std::string("inf") : std::to_string(hi)) + ", got " + std::to_string(v));
  };
  check("k1", o.k1, 0, HUGE_VAL);
  check("b", o.b, 0, 1);
  check("ctr_prior", o.ctr_prior, 0, HUGE_VAL);
  make_stemmer(o.stemmer, where);
}

// Identifies a corpus by its size and doc ids in row order, so that click
// statistics keyed by row are never applied to a reordered or other corpus.
std::uint64_t corpus_fingerprint(const Corpus& corpus) {
  XXH3_state_t* state = XXH3_createState();
  if (!state) throw Error("cross features: out of memory");
  XXH3_64bits_reset(state);
  for (const Doc& d : corpus.docs) {
    const std::uint64_t n = d.id.size();
    XXH3_64bits_update(state, &n, sizeof n);
    XXH3_64bits_update(state, d.id.data(), d.id.size());
  }
  const std::uint64_t h = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return h;
}

// Little-endian serialisation into a byte string.
class Writer {
 public:
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) buf_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) buf_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    buf_ += s;
  }
  void raw(const char* p, std::size_t n) { buf_.append(p, n); }
  std::string& bytes() { return buf_; }

 private:
  std::string buf_;
};

// Bounds-checked reading of what Writer wrote; every failure names the file,
// the item being read and the byte offset.
class Reader {
 public:
  Reader(std::string_view data, std::string where) : data_(data), where_(std::move(where)) {}

  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }

  std::uint32_t u32(const std::string& what) {
    need(4, what);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(data_[pos_++])} << (8 * i);
    return v;
  }
  std::uint64_t u64(const std::string& what) {
    need(8, what);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<unsigned char>(data_[pos_++])} << (8 * i);
    return v;
  }
  double f64(const std::string& what) { return std::bit_cast<double>(u64(what)); }
  std::string str(const std::string& what) {
    const std::uint32_t n = u32(what + " length");
    need(n, what);
    std::string s(data_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  // Reads a record count and checks that `count` records of at least
  // `min_bytes` each fit in the rest of the file, before anything is
  // allocated for them.
  std::uint64_t count(const std::string& what, std::size_t min_bytes) {
    const std::size_t at = pos_;
    const std::uint64_t n = u64(what + " count");
    if (n > remaining() / min_bytes)
      throw Error(where_ + ": truncated or corrupted file: " + what + " count " + std::to_string(n) +
                  " at byte " + std::to_string(at) + " needs at least " + std::to_string(n * min_bytes) +
                  " bytes but only " + std::to_string(remaining()) + " are left");
    return n;
  }
  void need(std::size_t n, const std::string& what) const {
    if (remaining() < n)
      throw Error(where_ + ": truncated file: reading " + what + " at byte " + std::to_string(pos_) +
                  " needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left");
  }

 private:
  std::string_view data_;
  std::string where_;
  std::size_t pos_ = 0;
};

struct Record {
  std::uint32_t a = 0, b = 0;  // key parts (b unused for one-part keys)
  std::uint64_t impressions = 0, clicks = 0;
};

void add(CrossFeatures::ClickStat& s, bool click) {
  if (s.impressions == std::numeric_limits<std::uint32_t>::max())
    throw Error("cross features: more than 2^32 - 1 impressions of one click key");
  ++s.impressions;
  s.clicks += click ? 1 : 0;
}

// splitmix64 finaliser: packed keys (id << 32 | id) need mixing before
// their low bits pick a slot.
std::size_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<std::size_t>(x);
}

}  // namespace

CrossFeatures::ClickTable::Slot& CrossFeatures::ClickTable::slot_for(std::uint64_t key) {
  // Load factor at most 1/2 keeps probe sequences short.
  if (2 * (size_ + 1) > slots_.size()) {
    std::vector<Slot> old(std::max<std::size_t>(16, 2 * slots_.size()));
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& o : old)
      if (o.key != kEmpty) {
        std::size_t i = mix(o.key) & mask;
        while (slots_[i].key != kEmpty) i = (i + 1) & mask;
        slots_[i] = o;
      }
  }
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = mix(key) & mask;
  while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask;
  return slots_[i];
}

void CrossFeatures::ClickTable::add(std::uint64_t key, bool click) {
  Slot& s = slot_for(key);
  if (s.key == kEmpty) {
    s.key = key;
    ++size_;
  }
  rank::add(s.stat, click);
}

bool CrossFeatures::ClickTable::insert(std::uint64_t key, const ClickStat& stat) {
  Slot& s = slot_for(key);
  if (s.key != kEmpty) return false;
  s.key = key;
  s.stat = stat;
  ++size_;
  return true;
}

const CrossFeatures::ClickStat* CrossFeatures::ClickTable::find(std::uint64_t key) const {
  if (slots_.empty()) return nullptr;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    if (slots_[i].key == key) return &slots_[i].stat;
    if (slots_[i].key == kEmpty) return nullptr;
  }
}

std::vector<std::pair<std::uint64_t, CrossFeatures::ClickStat>> CrossFeatures::ClickTable::sorted() const {
  std::vector<std::pair<std::uint64_t, ClickStat>> v;
  v.reserve(size_);
  for (const Slot& s : slots_)
    if (s.key != kEmpty) v.emplace_back(s.key, s.stat);
  std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  return v;
}

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
  Xapian::Stem stem = make_stemmer(options_.stemmer, where);
  n_docs_ = corpus.docs.size();
  fingerprint_ = corpus_fingerprint(corpus);

  // Stemming dominates the analysis; each surface form is stemmed once.
  std::unordered_map<std::string, std::uint32_t> word_ids;
  auto analyse_text = [&](std::string_view text, std::vector<std::uint32_t>& out) {
    for_each_word(text, [&](const std::string& w) {
      auto it = word_ids.find(w);
      if (it == word_ids.end()) it = word_ids.emplace(w, intern(stem(w))).first;
      out.push_back(it->second);
    });
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

  Xapian::Stem stem = make_stemmer(options.stemmer, where);
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
      for_each_word(imp.query, [&](const std::string& w) {
        const std::string term = stem(w);
        if (!normalised.empty()) normalised += ' ';
        normalised += term;
        const std::uint32_t id = f.intern(term);
        if (std::find(a.terms.begin(), a.terms.end(), id) == a.terms.end()) a.terms.push_back(id);
      });
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
    add(f.doc_stats_[imp.row], imp.click);
    if (author != kNoId) add(f.author_stats_[author], imp.click);
    ++f.total_impressions_;
    f.total_clicks_ += imp.click ? 1 : 0;
  }
  f.p0_ = static_cast<double>(f.total_clicks_) / static_cast<double>(f.total_impressions_);
  return f;
}

CrossFeatures::Prepared CrossFeatures::prepare(const std::string& query) const {
  Prepared p;
  // Xapian::Stem keeps per-call state and its copies share it: one per call
  // keeps prepare() thread-safe. The language was validated at construction.
  Xapian::Stem stem = make_stemmer(options_.stemmer, "cross features");
  for_each_word(query, [&](const std::string& w) { p.terms.push_back(stem(w)); });
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
      p.idf[f].push_back(std::log(1 + (n - df + 0.5) / (df + 0.5)));
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
  const double k1 = options_.k1, b = options_.b;
  auto bm25 = [&](double idf, std::uint32_t tf, double len, double avg) {
    if (tf == 0) return 0.0;
    // avg == 0 only when every doc's field is empty, and then tf is 0.
    const double norm = k1 * (1 - b + (avg > 0 ? b * len / avg : 0));
    return idf * tf * (k1 + 1) / (tf + norm);
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

// File layout, version 1 (all integers little-endian; strings are a u32 byte
// count and the bytes; a record count is a u64):
//   "FNLXF" | u32 version | u64 corpus docs | u64 corpus fingerprint |
//   f64 k1 | f64 b | f64 ctr_prior | str stemmer |
//   u64 impressions | u64 clicks |
//   terms:   u32 n, n str        (terms of the term keys)
//   queries: u32 n, n str        (normalised logged queries, by query id)
//   authors: u32 n, n str        (corpus authors, by author id)
//   pair:        n records (u32 query, u32 row,    u64 impressions, u64 clicks)
//   term_doc:    n records (u32 term,  u32 row,    u64, u64)
//   term_author: n records (u32 term,  u32 author, u64, u64)
//   doc:         n records (u32 row, u64, u64)
//   author:      n records (u32 author, u64, u64)
//   u64 XXH3-64 of every byte before it
// Terms and authors are stored as strings because ids depend on the analysis,
// which load() redoes.
void CrossFeatures::save(const fs::path& path) const {
  Writer w;
  w.raw(kMagic, sizeof kMagic);
  w.u32(kVersion);
  w.u64(n_docs_);
  w.u64(fingerprint_);
  w.f64(options_.k1);
  w.f64(options_.b);
  w.f64(options_.ctr_prior);
  w.str(options_.stemmer);
  w.u64(total_impressions_);
  w.u64(total_clicks_);

  // Sorted keys make the file a function of the statistics alone.
  const auto pair = pair_stats_.sorted(), term_doc = term_doc_stats_.sorted(),
             term_author = term_author_stats_.sorted();
  std::vector<std::uint32_t> used;
  for (const auto* v : {&term_doc, &term_author})
    for (const auto& [key, stat] : *v) used.push_back(static_cast<std::uint32_t>(key >> 32));
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  std::unordered_map<std::uint32_t, std::uint32_t> term_index;
  w.u32(static_cast<std::uint32_t>(used.size()));
  for (std::uint32_t t : used) {
    term_index.emplace(t, static_cast<std::uint32_t>(term_index.size()));
    w.str(terms_[t]);
  }
  w.u32(static_cast<std::uint32_t>(queries_.size()));
  for (const std::string& s : queries_) w.str(s);
  w.u32(static_cast<std::uint32_t>(authors_.size()));
  for (const std::string& s : authors_) w.str(s);

  auto records = [&](const std::vector<std::pair<std::uint64_t, ClickStat>>& v, bool term_key) {
    w.u64(v.size());
    for (const auto& [key, stat] : v) {
      const auto hi = static_cast<std::uint32_t>(key >> 32);
      w.u32(term_key ? term_index.at(hi) : hi);
      w.u32(static_cast<std::uint32_t>(key));
      w.u64(stat.impressions);
      w.u64(stat.clicks);
    }
  };
  records(pair, false);
  records(term_doc, true);
  records(term_author, true);
  auto dense = [&](const std::vector<ClickStat>& v) {
    std::uint64_t n = 0;
    for (const ClickStat& s : v) n += s.impressions > 0;
    w.u64(n);
    for (std::size_t i = 0; i < v.size(); ++i)
      if (v[i].impressions > 0) {
        w.u32(static_cast<std::uint32_t>(i));
        w.u64(v[i].impressions);
        w.u64(v[i].clicks);
      }
  };
  dense(doc_stats_);
  dense(author_stats_);
  w.u64(XXH3_64bits(w.bytes().data(), w.bytes().size()));

  detail::AtomicFile file(path);
  file.stream().write(w.bytes().data(), static_cast<std::streamsize>(w.bytes().size()));
  file.commit();
}

CrossFeatures CrossFeatures::load(const fs::path& path, const Corpus& corpus) {
  const std::string where = path.string();
  std::string data;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(where + ": cannot open for reading");
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) throw Error(where + ": read error");
  }
  if (data.size() < sizeof kMagic || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0)
    throw Error(where + ": not a funnel cross-feature file (bad magic; expected \"FNLXF\")");

  // Parse everything first: a damaged file fails before the corpus analysis.
  Reader r(std::string_view(data).substr(sizeof kMagic), where);
  const std::uint32_t version = r.u32("version");
  if (version != kVersion)
    throw Error(where + ": unsupported cross-feature file version " + std::to_string(version) +
                " (this build reads version " + std::to_string(kVersion) + ")");
  const std::uint64_t n_docs = r.u64("corpus size");
  const std::uint64_t fingerprint = r.u64("corpus fingerprint");
  CrossFeatureOptions o;
  o.k1 = r.f64("option k1");
  o.b = r.f64("option b");
  o.ctr_prior = r.f64("option ctr_prior");
  o.stemmer = r.str("option stemmer");
  const std::uint64_t total_impressions = r.u64("impression total");
  const std::uint64_t total_clicks = r.u64("click total");
  auto table = [&](const std::string& what) {
    const std::uint32_t n = r.u32(what + " count");
    if (n > r.remaining() / 4)
      throw Error(where + ": truncated or corrupted file: " + what + " count " + std::to_string(n) +
                  " exceeds what is left of the file (" + std::to_string(r.remaining()) + " bytes)");
    std::vector<std::string> v(n);
    for (std::uint32_t i = 0; i < n; ++i) v[i] = r.str(what + " " + std::to_string(i));
    return v;
  };
  const std::vector<std::string> terms = table("term table");
  const std::vector<std::string> queries = table("query table");
  const std::vector<std::string> authors = table("author table");
  auto records = [&](const std::string& what, bool two_part) {
    const std::uint64_t n = r.count(what, two_part ? 24 : 20);
    std::vector<Record> v(n);
    for (Record& rec : v) {
      rec.a = r.u32(what + " key");
      if (two_part) rec.b = r.u32(what + " key");
      rec.impressions = r.u64(what + " impressions");
      rec.clicks = r.u64(what + " clicks");
    }
    return v;
  };
  const std::vector<Record> pair = records("pair records", true);
  const std::vector<Record> term_doc = records("term_doc records", true);
  const std::vector<Record> term_author = records("term_author records", true);
  const std::vector<Record> doc = records("doc records", false);
  const std::vector<Record> author = records("author records", false);
  const std::size_t body_end = sizeof kMagic + r.pos();
  const std::uint64_t checksum = r.u64("checksum");
  if (r.remaining() != 0)
    throw Error(where + ": " + std::to_string(r.remaining()) + " unexpected bytes after the checksum");
  if (XXH3_64bits(data.data(), body_end) != checksum)
    throw Error(where + ": checksum mismatch: the file is corrupted or was modified");

  if (n_docs != corpus.docs.size())
    throw Error(where + ": cross features were built on a corpus of " + std::to_string(n_docs) +
                " docs, but the given corpus has " + std::to_string(corpus.docs.size()));
  if (fingerprint != corpus_fingerprint(corpus))
    throw Error(where + ": cross features were built on another corpus (same size, other doc ids or order)");

  if (total_clicks > total_impressions)
    throw Error(where + ": " + std::to_string(total_clicks) + " clicks for " + std::to_string(total_impressions) +
                " impressions");

  CrossFeatures f;
  f.options_ = o;
  f.analyse(corpus, where);
  f.total_impressions_ = total_impressions;
  f.total_clicks_ = total_clicks;

  if (total_impressions == 0 && !(pair.empty() && term_doc.empty() && term_author.empty() && doc.empty() &&
                                  author.empty()))
    throw Error(where + ": click records without impressions (impression total is 0)");

  std::vector<std::uint32_t> term_map(terms.size());
  std::unordered_set<std::uint32_t> mapped;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    term_map[i] = f.intern(terms[i]);
    if (!mapped.insert(term_map[i]).second)
      throw Error(where + ": term table: duplicate term '" + terms[i] + "'");
  }
  for (const std::string& q : queries) {
    if (!f.query_ids_.try_emplace(q, static_cast<std::uint32_t>(f.queries_.size())).second)
      throw Error(where + ": query table: duplicate query '" + q + "'");
    f.queries_.push_back(q);
  }
  // Authors are matched by name; one no doc of this corpus has matches nothing.
  std::vector<std::uint32_t> author_map(authors.size(), kNoId);
  for (std::size_t i = 0; i < authors.size(); ++i)
    if (auto it = f.author_ids_.find(authors[i]); it != f.author_ids_.end()) author_map[i] = it->second;

  // Returns the record's counts once they make sense.
  auto check = [&](const std::string& what, std::size_t i, const Record& rec) {
    if (rec.impressions == 0 || rec.clicks > rec.impressions ||
        rec.impressions > std::numeric_limits<std::uint32_t>::max())
      throw Error(where + ": " + what + " " + std::to_string(i) + ": " + std::to_string(rec.clicks) +
                  " clicks for " + std::to_string(rec.impressions) + " impressions");
    return ClickStat{static_cast<std::uint32_t>(rec.impressions), static_cast<std::uint32_t>(rec.clicks)};
  };
  auto in_range = [&](const std::string& what, std::size_t i, const char* field, std::uint64_t v, std::uint64_t n) {
    if (v >= n)
      throw Error(where + ": " + what + " " + std::to_string(i) + ": " + field + " " + std::to_string(v) +
                  " out of range (" + std::to_string(n) + ")");
  };
  auto insert = [&](ClickTable& m, const std::string& what, std::size_t i, std::uint64_t key, const ClickStat& s) {
    if (!m.insert(key, s)) throw Error(where + ": " + what + " " + std::to_string(i) + ": duplicate key");
  };
  for (std::size_t i = 0; i < pair.size(); ++i) {
    const ClickStat s = check("pair record", i, pair[i]);
    in_range("pair record", i, "query", pair[i].a, queries.size());
    in_range("pair record", i, "row", pair[i].b, n_docs);
    insert(f.pair_stats_, "pair record", i, pack(pair[i].a, pair[i].b), s);
  }
  for (std::size_t i = 0; i < term_doc.size(); ++i) {
    const ClickStat s = check("term_doc record", i, term_doc[i]);
    in_range("term_doc record", i, "term", term_doc[i].a, terms.size());
    in_range("term_doc record", i, "row", term_doc[i].b, n_docs);
    insert(f.term_doc_stats_, "term_doc record", i, pack(term_map[term_doc[i].a], term_doc[i].b), s);
  }
  for (std::size_t i = 0; i < term_author.size(); ++i) {
    const ClickStat s = check("term_author record", i, term_author[i]);
    in_range("term_author record", i, "term", term_author[i].a, terms.size());
    in_range("term_author record", i, "author", term_author[i].b, authors.size());
    const std::uint32_t a = author_map[term_author[i].b];
    if (a != kNoId) insert(f.term_author_stats_, "term_author record", i, pack(term_map[term_author[i].a], a), s);
  }
  if (total_impressions > 0) {
    f.doc_stats_.assign(f.n_docs_, {});
    f.author_stats_.assign(f.authors_.size(), {});
  }
  std::uint64_t sum_impressions = 0, sum_clicks = 0;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const ClickStat s = check("doc record", i, doc[i]);
    in_range("doc record", i, "row", doc[i].a, n_docs);
    if (f.doc_stats_[doc[i].a].impressions > 0)
      throw Error(where + ": doc record " + std::to_string(i) + ": duplicate row");
    f.doc_stats_[doc[i].a] = s;
    sum_impressions += s.impressions;
    sum_clicks += s.clicks;
  }
  // Every impression is counted once per doc: the doc records add up to the totals.
  if (sum_impressions != total_impressions || sum_clicks != total_clicks)
    throw Error(where + ": doc records add up to " + std::to_string(sum_impressions) + " impressions and " +
                std::to_string(sum_clicks) + " clicks, but the totals say " + std::to_string(total_impressions) +
                " and " + std::to_string(total_clicks));
  for (std::size_t i = 0; i < author.size(); ++i) {
    const ClickStat s = check("author record", i, author[i]);
    in_range("author record", i, "author", author[i].a, authors.size());
    const std::uint32_t a = author_map[author[i].a];
    if (a == kNoId) continue;
    if (f.author_stats_[a].impressions > 0)
      throw Error(where + ": author record " + std::to_string(i) + ": duplicate author");
    f.author_stats_[a] = s;
  }
  if (total_impressions > 0)
    f.p0_ = static_cast<double>(total_clicks) / static_cast<double>(total_impressions);
  return f;
}

}  // namespace funnel::rank
