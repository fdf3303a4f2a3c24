// Strict readers for corpus, queries, qrels and impression files.
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "data/jsonl.h"
#include "funnel/data.h"
#include "funnel/error.h"
#include "util/fs.h"
#include "util/utf8.h"

namespace funnel {
namespace fs = std::filesystem;
using detail::JsonlReader;
using nlohmann::json;

std::optional<std::uint32_t> Corpus::find(const std::string& id) const {
  auto it = row_of.find(id);
  if (it == row_of.end()) return std::nullopt;
  return it->second;
}

Corpus read_corpus(const fs::path& path) {
  Corpus corpus;
  JsonlReader r(path);
  std::unordered_map<std::string, long> line_of;
  long dim_line = 0;
  json obj;
  while (r.next(obj)) {
    Doc d;
    d.id = r.id(obj, {"id", "_id"});
    d.title = r.optional_string(obj, "title");
    d.text = r.optional_string(obj, "text");
    d.tags = r.optional_string_list(obj, "tags");
    d.author = r.optional_string(obj, "author");
    d.category = r.optional_string(obj, "category");
    d.image_vec = r.optional_float_list(obj, "image_vec");
    d.published = r.optional_int64(obj, "published");
    if (obj.contains("image_vec") && !obj["image_vec"].is_null()) {
      int dim = static_cast<int>(d.image_vec.size());
      if (dim == 0) r.fail("image_vec", "empty vector");
      if (corpus.image_dim == 0) {
        corpus.image_dim = dim;
        dim_line = r.line();
      } else if (dim != corpus.image_dim) {
        r.fail("image_vec", "expected " + std::to_string(corpus.image_dim) +
                                " numbers (the dimension set at line " +
                                std::to_string(dim_line) + "), got " + std::to_string(dim));
      }
    }
    auto [it, fresh] = line_of.emplace(d.id, r.line());
    if (!fresh)
      r.fail("id", "duplicate doc id '" + d.id + "' (first seen at line " +
                       std::to_string(it->second) + ")");
    corpus.row_of.emplace(d.id, static_cast<std::uint32_t>(corpus.docs.size()));
    corpus.docs.push_back(std::move(d));
  }
  if (corpus.docs.empty()) throw Error(path.string() + ": no documents");
  return corpus;
}

std::vector<Query> read_queries(const fs::path& path) {
  std::vector<Query> out;
  std::unordered_map<std::string, long> line_of;
  JsonlReader r(path);
  json obj;
  while (r.next(obj)) {
    Query q;
    q.id = r.id(obj, {"id", "_id"});
    q.text = r.required_string(obj, "text");
    if (q.text.find_first_not_of(" \t") == std::string::npos) r.fail("text", "empty query");
    auto [it, fresh] = line_of.emplace(q.id, r.line());
    if (!fresh)
      r.fail("id", "duplicate query id '" + q.id + "' (first seen at line " +
                       std::to_string(it->second) + ")");
    out.push_back(std::move(q));
  }
  return out;
}

Qrels read_qrels(const fs::path& path) {
  if (!fs::is_regular_file(path)) throw Error(path.string() + ": file not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open for reading");
  Qrels qrels;
  std::string line;
  long no = 0;
  auto fail = [&](const std::string& what) {
    throw Error(path.string() + ":" + std::to_string(no) + ": " + what);
  };
  while (std::getline(in, line)) {
    ++no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (auto bad = detail::find_invalid_utf8(line); bad != detail::kValidUtf8)
      fail("invalid UTF-8 at byte " + std::to_string(bad + 1) + " of the line");
    std::vector<std::string> cols;
    std::size_t start = 0;
    while (true) {
      std::size_t tab = line.find('\t', start);
      cols.push_back(line.substr(start, tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    if (no == 1 && cols.size() >= 1 && cols[0] == "query-id") continue;  // header
    if (cols.size() != 3)
      fail("expected 3 tab-separated columns (query-id, corpus-id, score), got " +
           std::to_string(cols.size()));
    if (cols[0].empty()) fail("column 'query-id': empty");
    if (cols[1].empty()) fail("column 'corpus-id': empty");
    int grade;
    try {
      std::size_t used = 0;
      grade = std::stoi(cols[2], &used);
      if (used != cols[2].size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      fail("column 'score': expected an integer grade, got '" + cols[2] + "'");
    }
    auto [it, fresh] = qrels[cols[0]].emplace(cols[1], grade);
    if (!fresh && it->second != grade)
      fail("conflicting grades for query '" + cols[0] + "' doc '" + cols[1] + "'");
  }
  if (in.bad()) throw Error(path.string() + ": read error");
  return qrels;
}

std::vector<Impression> read_impressions(const fs::path& path) {
  std::vector<Impression> out;
  JsonlReader r(path);
  json obj;
  while (r.next(obj)) {
    Impression im;
    im.request_id = r.id(obj, {"request_id"});
    im.query_id = r.id(obj, {"query_id"});
    im.user_id = r.id(obj, {"user_id"});
    im.doc_id = r.id(obj, {"doc_id"});
    long pos = r.required_int(obj, "position");
    if (pos < 0 || pos > 100000) r.fail("position", "expected 0..100000, got " + std::to_string(pos));
    im.position = static_cast<int>(pos);
    im.click = r.required_flag(obj, "click");
    double w = r.required_number(obj, "watch");
    if (!(w >= 0.0 && w <= 1.0)) r.fail("watch", "expected a fraction in 0..1, got " + obj["watch"].dump());
    im.watch = static_cast<float>(w);
    im.finish = r.required_flag(obj, "finish");
    im.like = r.required_flag(obj, "like");
    im.share = r.required_flag(obj, "share");
    im.follow = r.required_flag(obj, "follow");
    out.push_back(std::move(im));
  }
  return out;
}

Dataset load_dataset(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw Error(dir.string() + ": data folder not found");
  Dataset ds;
  ds.dir = dir;
  ds.corpus = read_corpus(dir / "corpus.jsonl");
  ds.queries = read_queries(dir / "queries.jsonl");
  return ds;
}

Qrels load_qrels(const fs::path& dir, const std::string& split) {
  fs::path p = dir / "qrels" / (split + ".tsv");
  if (!fs::is_regular_file(p))
    throw Error(p.string() + ": no qrels for split '" + split + "'");
  return read_qrels(p);
}

void write_trec_run(std::ostream& out, const std::vector<RunEntry>& run, const std::string& tag) {
  char buf[64];
  for (const auto& e : run) {
    int rank = 1;
    for (const auto& [doc, score] : e.ranked) {
      std::snprintf(buf, sizeof buf, "%.9g", score);
      out << e.query_id << " Q0 " << doc << ' ' << rank++ << ' ' << buf << ' ' << tag << '\n';
    }
  }
}

void write_trec_run(const fs::path& path, const std::vector<RunEntry>& run,
                    const std::string& tag) {
  detail::AtomicFile f(path);
  write_trec_run(f.stream(), run, tag);
  f.commit();
}

}  // namespace funnel
