// CrossFeatures::save and ::load: the click statistics and the options on
// disk (MODELS/rank/features.bin); the corpus analysis is redone on load.
#include <bit>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <unordered_set>

#include <xxhash.h>

#include "funnel/error.h"
#include "rank/cross_features.h"
#include "util/fs.h"

namespace funnel::rank {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[5] = {'F', 'N', 'L', 'X', 'F'};
// Version 3: the BM25 options are the channel's (k1, b, min_normlen) and the
// analysis is text::Analyzer's (stemmer, CJK n-gram lengths).
constexpr std::uint32_t kVersion = 3;

std::uint64_t pack(std::uint32_t hi, std::uint32_t lo) { return std::uint64_t{hi} << 32 | lo; }

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

}  // namespace

// Identifies a corpus by its size and doc ids in row order, so that click
// statistics keyed by row are never applied to a reordered or other corpus.
std::uint64_t CrossFeatures::corpus_fingerprint(const Corpus& corpus) {
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

// File layout, version 3 (all integers little-endian; strings are a u32 byte
// count and the bytes; a record count is a u64):
//   "FNLXF" | u32 version | u64 corpus docs | u64 corpus fingerprint |
//   f64 k1 | f64 b | f64 min_normlen | f64 ctr_prior | str stemmer |
//   u32 n, n u32 CJK n-gram lengths |
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
  w.f64(options_.bm25.k1);
  w.f64(options_.bm25.b);
  w.f64(options_.bm25.min_normlen);
  w.f64(options_.ctr_prior);
  w.str(options_.bm25.stemmer);
  w.u32(static_cast<std::uint32_t>(options_.bm25.cjk_ngrams.size()));
  for (int n : options_.bm25.cjk_ngrams) w.u32(static_cast<std::uint32_t>(n));
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

// What a cross-feature file holds, parsed and checked as a file (magic,
// version, bounds, checksum) but not yet against a corpus.
struct CrossFeatures::Stored {
  std::uint64_t n_docs = 0, fingerprint = 0;
  CrossFeatureOptions options;
  std::uint64_t total_impressions = 0, total_clicks = 0;
  std::vector<std::string> terms, queries, authors;
  std::vector<Record> pair, term_doc, term_author, doc, author;

  bool has_records() const {
    return !(pair.empty() && term_doc.empty() && term_author.empty() && doc.empty() && author.empty());
  }
};

namespace {

std::string read_whole_file(const fs::path& path, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(where + ": cannot open for reading");
  std::string data(std::istreambuf_iterator<char>(in), {});
  if (in.bad()) throw Error(where + ": read error");
  return data;
}

std::vector<std::string> read_table(Reader& r, const std::string& where, const std::string& what) {
  const std::uint32_t n = r.u32(what + " count");
  if (n > r.remaining() / 4)
    throw Error(where + ": truncated or corrupted file: " + what + " count " + std::to_string(n) +
                " exceeds what is left of the file (" + std::to_string(r.remaining()) + " bytes)");
  std::vector<std::string> v(n);
  for (std::uint32_t i = 0; i < n; ++i) v[i] = r.str(what + " " + std::to_string(i));
  return v;
}

std::vector<Record> read_records(Reader& r, const std::string& what, bool two_part) {
  const std::uint64_t n = r.count(what, two_part ? 24 : 20);
  std::vector<Record> v(n);
  for (Record& rec : v) {
    rec.a = r.u32(what + " key");
    if (two_part) rec.b = r.u32(what + " key");
    rec.impressions = r.u64(what + " impressions");
    rec.clicks = r.u64(what + " clicks");
  }
  return v;
}

}  // namespace

CrossFeatures::Stored CrossFeatures::parse(const std::string& data, const std::string& where) {
  if (data.size() < sizeof kMagic || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0)
    throw Error(where + ": not a funnel cross-feature file (bad magic; expected \"FNLXF\")");
  Reader r(std::string_view(data).substr(sizeof kMagic), where);
  const std::uint32_t version = r.u32("version");
  if (version != kVersion)
    throw Error(where + ": unsupported cross-feature file version " + std::to_string(version) +
                " (this build reads version " + std::to_string(kVersion) +
                "; files of older versions were made with another text analysis: retrain the ranker)");
  Stored s;
  s.n_docs = r.u64("corpus size");
  s.fingerprint = r.u64("corpus fingerprint");
  s.options.bm25.k1 = r.f64("option k1");
  s.options.bm25.b = r.f64("option b");
  s.options.bm25.min_normlen = r.f64("option min_normlen");
  s.options.ctr_prior = r.f64("option ctr_prior");
  s.options.bm25.stemmer = r.str("option stemmer");
  const std::uint32_t n_ngrams = r.u32("option cjk_ngrams");
  if (n_ngrams > 4) throw Error(where + ": option cjk_ngrams: " + std::to_string(n_ngrams) + " lengths (at most 4)");
  s.options.bm25.cjk_ngrams.clear();
  for (std::uint32_t i = 0; i < n_ngrams; ++i)
    s.options.bm25.cjk_ngrams.push_back(static_cast<int>(std::min<std::uint32_t>(r.u32("option cjk_ngrams"), 1000)));
  s.total_impressions = r.u64("impression total");
  s.total_clicks = r.u64("click total");
  s.terms = read_table(r, where, "term table");
  s.queries = read_table(r, where, "query table");
  s.authors = read_table(r, where, "author table");
  s.pair = read_records(r, "pair records", true);
  s.term_doc = read_records(r, "term_doc records", true);
  s.term_author = read_records(r, "term_author records", true);
  s.doc = read_records(r, "doc records", false);
  s.author = read_records(r, "author records", false);
  const std::size_t body_end = sizeof kMagic + r.pos();
  const std::uint64_t checksum = r.u64("checksum");
  if (r.remaining() != 0)
    throw Error(where + ": " + std::to_string(r.remaining()) + " unexpected bytes after the checksum");
  if (XXH3_64bits(data.data(), body_end) != checksum)
    throw Error(where + ": checksum mismatch: the file is corrupted or was modified");
  if (s.total_clicks > s.total_impressions)
    throw Error(where + ": " + std::to_string(s.total_clicks) + " clicks for " +
                std::to_string(s.total_impressions) + " impressions");
  if (s.total_impressions == 0 && s.has_records())
    throw Error(where + ": click records without impressions (impression total is 0)");
  return s;
}

CrossFeatures CrossFeatures::load(const fs::path& path, const Corpus& corpus) {
  const std::string where = path.string();
  // Parse everything first: a damaged file fails before the corpus analysis.
  const Stored s = parse(read_whole_file(path, where), where);
  if (s.n_docs != corpus.docs.size())
    throw Error(where + ": cross features were built on a corpus of " + std::to_string(s.n_docs) +
                " docs, but the given corpus has " + std::to_string(corpus.docs.size()));
  if (s.fingerprint != corpus_fingerprint(corpus))
    throw Error(where + ": cross features were built on another corpus (same size, other doc ids or order)");

  CrossFeatures f;
  f.options_ = s.options;
  f.analyse(corpus, where);
  f.restore_vocabulary(s, where);
  f.restore_click_stats(s, where);
  return f;
}

// The stored terms and queries get this analysis's ids; stored authors are
// matched by name (one that no doc of this corpus has matches nothing).
void CrossFeatures::restore_vocabulary(const Stored& s, const std::string& where) {
  std::unordered_set<std::uint32_t> mapped;
  for (const std::string& t : s.terms)
    if (!mapped.insert(intern(t)).second) throw Error(where + ": term table: duplicate term '" + t + "'");
  for (const std::string& q : s.queries) {
    if (!query_ids_.try_emplace(q, static_cast<std::uint32_t>(queries_.size())).second)
      throw Error(where + ": query table: duplicate query '" + q + "'");
    queries_.push_back(q);
  }
}

namespace {

// Bounds and sanity checks on stored click records, naming the file and record.
class RecordCheck {
 public:
  explicit RecordCheck(const std::string& where) : where_(where) {}

  // Returns the record's counts once they make sense.
  ClickStat counts(const std::string& what, std::size_t i, const Record& rec) const {
    if (rec.impressions == 0 || rec.clicks > rec.impressions ||
        rec.impressions > std::numeric_limits<std::uint32_t>::max())
      throw Error(where_ + ": " + what + " " + std::to_string(i) + ": " + std::to_string(rec.clicks) +
                  " clicks for " + std::to_string(rec.impressions) + " impressions");
    return ClickStat{static_cast<std::uint32_t>(rec.impressions), static_cast<std::uint32_t>(rec.clicks)};
  }
  void in_range(const std::string& what, std::size_t i, const char* field, std::uint64_t v,
                std::uint64_t n) const {
    if (v >= n)
      throw Error(where_ + ": " + what + " " + std::to_string(i) + ": " + field + " " + std::to_string(v) +
                  " out of range (" + std::to_string(n) + ")");
  }
  void insert(ClickTable& m, const std::string& what, std::size_t i, std::uint64_t key,
              const ClickStat& s) const {
    if (!m.insert(key, s)) fail(what, i, "duplicate key");
  }
  [[noreturn]] void fail(const std::string& what, std::size_t i, const std::string& problem) const {
    throw Error(where_ + ": " + what + " " + std::to_string(i) + ": " + problem);
  }

 private:
  const std::string& where_;
};

}  // namespace

void CrossFeatures::restore_click_stats(const Stored& s, const std::string& where) {
  total_impressions_ = s.total_impressions;
  total_clicks_ = s.total_clicks;
  const RecordCheck check(where);
  std::vector<std::uint32_t> term_map(s.terms.size());
  for (std::size_t i = 0; i < s.terms.size(); ++i) term_map[i] = term_ids_.at(s.terms[i]);
  std::vector<std::uint32_t> author_map(s.authors.size(), kNoId);
  for (std::size_t i = 0; i < s.authors.size(); ++i)
    if (auto it = author_ids_.find(s.authors[i]); it != author_ids_.end()) author_map[i] = it->second;

  for (std::size_t i = 0; i < s.pair.size(); ++i) {
    const Record& rec = s.pair[i];
    const ClickStat c = check.counts("pair record", i, rec);
    check.in_range("pair record", i, "query", rec.a, s.queries.size());
    check.in_range("pair record", i, "row", rec.b, s.n_docs);
    check.insert(pair_stats_, "pair record", i, pack(rec.a, rec.b), c);
  }
  for (std::size_t i = 0; i < s.term_doc.size(); ++i) {
    const Record& rec = s.term_doc[i];
    const ClickStat c = check.counts("term_doc record", i, rec);
    check.in_range("term_doc record", i, "term", rec.a, s.terms.size());
    check.in_range("term_doc record", i, "row", rec.b, s.n_docs);
    check.insert(term_doc_stats_, "term_doc record", i, pack(term_map[rec.a], rec.b), c);
  }
  for (std::size_t i = 0; i < s.term_author.size(); ++i) {
    const Record& rec = s.term_author[i];
    const ClickStat c = check.counts("term_author record", i, rec);
    check.in_range("term_author record", i, "term", rec.a, s.terms.size());
    check.in_range("term_author record", i, "author", rec.b, s.authors.size());
    if (author_map[rec.b] != kNoId)
      check.insert(term_author_stats_, "term_author record", i, pack(term_map[rec.a], author_map[rec.b]), c);
  }
  if (s.total_impressions > 0) {
    doc_stats_.assign(n_docs_, {});
    author_stats_.assign(authors_.size(), {});
  }
  std::uint64_t sum_impressions = 0, sum_clicks = 0;
  for (std::size_t i = 0; i < s.doc.size(); ++i) {
    const ClickStat c = check.counts("doc record", i, s.doc[i]);
    check.in_range("doc record", i, "row", s.doc[i].a, s.n_docs);
    if (doc_stats_[s.doc[i].a].impressions > 0) check.fail("doc record", i, "duplicate row");
    doc_stats_[s.doc[i].a] = c;
    sum_impressions += c.impressions;
    sum_clicks += c.clicks;
  }
  // Every impression is counted once per doc: the doc records add up to the totals.
  if (sum_impressions != s.total_impressions || sum_clicks != s.total_clicks)
    throw Error(where + ": doc records add up to " + std::to_string(sum_impressions) + " impressions and " +
                std::to_string(sum_clicks) + " clicks, but the totals say " +
                std::to_string(s.total_impressions) + " and " + std::to_string(s.total_clicks));
  for (std::size_t i = 0; i < s.author.size(); ++i) {
    const ClickStat c = check.counts("author record", i, s.author[i]);
    check.in_range("author record", i, "author", s.author[i].a, s.authors.size());
    const std::uint32_t a = author_map[s.author[i].a];
    if (a == kNoId) continue;
    if (author_stats_[a].impressions > 0) check.fail("author record", i, "duplicate author");
    author_stats_[a] = c;
  }
  if (s.total_impressions > 0)
    p0_ = static_cast<double>(s.total_clicks) / static_cast<double>(s.total_impressions);
}

}  // namespace funnel::rank
