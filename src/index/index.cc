#include "funnel/index.h"

#include <cstdio>
#include <fstream>
#include <unordered_map>

#include <xapian.h>

#include "funnel/error.h"
#include "util/fs.h"

namespace funnel {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
std::string one_line(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return out;
}
}  // namespace

void build_index(const Corpus& corpus, const fs::path& out, const IndexOptions& options,
                 const ProgressFn& progress) {
  detail::StagingDir stage(out, options.overwrite);
  build_bm25_index(corpus, stage.path() / "bm25", options.bm25, progress);
  {
    detail::AtomicFile f(stage.path() / "docs.tsv");
    for (const Doc& d : corpus.docs)
      f.stream() << d.id << '\t' << one_line(d.title) << '\t' << one_line(d.author) << '\t' << one_line(d.category)
                 << '\n';
    f.commit();
  }
  json manifest = {{"format_version", kIndexFormatVersion},
                   {"docs", corpus.docs.size()},
                   {"image_dim", corpus.image_dim},
                   {"channels", {{"bm25", {{"path", "bm25"}, {"options", bm25_options_to_json(options.bm25)}}}}}};
  if (options.encoder) {
    const DocEncoder& enc = *options.encoder;
    auto vecs = enc.encode(corpus, progress);
    publish_store_version(stage.path() / "embeddings", {enc.model_id(), options.precision, enc.heads(), enc.dim()},
                          vecs, corpus.docs.size());
    manifest["prerank"] = {{"store", "embeddings"}, {"models", fs::absolute(enc.models_dir()).string()}};
    auto store = EmbeddingStore::open(stage.path() / "embeddings");
    build_ann_index(*store, stage.path() / "ann.faiss", options.ann);
    manifest["ann"] = {{"file", "ann.faiss"}, {"type", options.ann.type}, {"store_version", store->version()}};
  }
  {
    detail::AtomicFile f(stage.path() / "manifest.json");
    f.stream() << manifest.dump(2) << '\n';
    f.commit();
  }
  stage.commit();
}

std::uint64_t refresh_embeddings(const fs::path& index_dir, const Corpus& corpus, const DocEncoder& encoder,
                                 Precision precision, const ProgressFn& progress) {
  auto index = Index::open(index_dir);
  if (index->size() != corpus.docs.size())
    throw Error(index_dir.string() + ": the index has " + std::to_string(index->size()) + " docs, the corpus " +
                std::to_string(corpus.docs.size()) + " (rebuild the index instead)");
  for (std::size_t r = 0; r < corpus.docs.size(); ++r)
    if (index->doc_id(static_cast<std::uint32_t>(r)) != corpus.docs[r].id)
      throw Error(index_dir.string() + ": doc " + std::to_string(r + 1) + " is '" +
                  index->doc_id(static_cast<std::uint32_t>(r)) + "' in the index but '" + corpus.docs[r].id +
                  "' in the corpus (rebuild the index instead)");
  auto vecs = encoder.encode(corpus, progress);
  std::uint64_t v = publish_store_version(index_dir / "embeddings", {encoder.model_id(), precision, encoder.heads(),
                                                                     encoder.dim()},
                                          vecs, corpus.docs.size());
  // The ANN index follows the new vectors, in a file of its own version:
  // until the manifest names it, the ANN channel refuses to open (the
  // store is already at v, the ANN index still at v - 1), so a server that
  // reloads in between keeps serving the old version. A reader that opened
  // the old file keeps its copy in memory.
  AnnOptions ann;
  json m = index->manifest();
  if (m.contains("ann") && m["ann"].contains("type")) ann.type = m["ann"]["type"].get<std::string>();
  char name[32];
  std::snprintf(name, sizeof name, "ann-v%06llu.faiss", static_cast<unsigned long long>(v));
  build_ann_index(*EmbeddingStore::open(index_dir / "embeddings", v), index_dir / name, ann);
  // Record the models folder, atomically, for indexes built without one.
  m["prerank"] = {{"store", "embeddings"}, {"models", fs::absolute(encoder.models_dir()).string()}};
  const std::string previous = m.contains("ann") ? m["ann"].value("file", "") : "";
  m["ann"] = {{"file", name}, {"type", ann.type}, {"store_version", v}};
  {
    detail::AtomicFile f(index_dir / "manifest.json");
    f.stream() << m.dump(2) << '\n';
    f.commit();
  }
  // ANN files older than the previous one are no longer named by anyone.
  for (const auto& e : fs::directory_iterator(index_dir)) {
    const std::string f = e.path().filename().string();
    if (f != name && f != previous && (f == "ann.faiss" || (f.starts_with("ann-v") && f.ends_with(".faiss"))))
      fs::remove(e.path());
  }
  return v;
}

std::shared_ptr<const Index> Index::open(const fs::path& dir) {
  auto index = std::shared_ptr<Index>(new Index());
  index->dir_ = dir;
  fs::path mpath = dir / "manifest.json";
  if (!fs::is_directory(dir)) throw Error(dir.string() + ": index folder not found");
  if (!fs::is_regular_file(mpath)) throw Error(mpath.string() + ": missing (not a funnel index?)");
  {
    std::ifstream in(mpath);
    try {
      index->manifest_ = json::parse(in);
    } catch (const json::exception& e) {
      throw Error(mpath.string() + ": malformed JSON (" + e.what() + ")");
    }
  }
  const json& m = index->manifest_;
  if (!m.is_object() || !m.contains("format_version") || !m["format_version"].is_number_integer())
    throw Error(mpath.string() + ": field 'format_version': missing");
  if (m["format_version"].get<int>() != kIndexFormatVersion)
    throw Error(mpath.string() + ": format version " + m["format_version"].dump() +
                ", this build reads version " + std::to_string(kIndexFormatVersion) +
                " (rebuild the index)");
  if (!m.contains("docs") || !m["docs"].is_number_unsigned())
    throw Error(mpath.string() + ": field 'docs': missing");
  std::size_t n = m["docs"].get<std::size_t>();

  fs::path dpath = dir / "docs.tsv";
  std::ifstream in(dpath, std::ios::binary);
  if (!in) throw Error(dpath.string() + ": missing");
  // id<TAB>title<TAB>author<TAB>category; indexes built before the doc
  // metadata have id<TAB>title only (author and category "").
  std::string line;
  std::unordered_map<std::string, std::uint32_t> author_ids, category_ids;
  auto intern = [](std::unordered_map<std::string, std::uint32_t>& ids, std::vector<std::string>& names,
                   std::string name) {
    auto [it, added] = ids.emplace(name, static_cast<std::uint32_t>(names.size()));
    if (added) names.push_back(std::move(name));
    return it->second;
  };
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    for (std::size_t pos = 0;;) {
      auto tab = line.find('\t', pos);
      f.push_back(line.substr(pos, tab == std::string::npos ? std::string::npos : tab - pos));
      if (tab == std::string::npos) break;
      pos = tab + 1;
    }
    if (f.size() != 2 && f.size() != 4)
      throw Error(dpath.string() + ":" + std::to_string(index->ids_.size() + 1) +
                  ": expected id<TAB>title<TAB>author<TAB>category");
    index->ids_.push_back(f[0]);
    index->titles_.push_back(f[1]);
    index->author_of_.push_back(intern(author_ids, index->author_names_, f.size() == 4 ? f[2] : ""));
    index->category_of_.push_back(intern(category_ids, index->category_names_, f.size() == 4 ? f[3] : ""));
  }
  if (index->ids_.size() != n)
    throw Error(dpath.string() + ": " + std::to_string(index->ids_.size()) + " rows, manifest says " +
                std::to_string(n) + " (damaged index)");

  const json& channels = m.value("channels", json::object());
  if (channels.contains("bm25")) {
    Bm25Options o = bm25_options_from_json(channels["bm25"].value("options", json::object()),
                                           mpath.string() + ": channels.bm25.options");
    index->channels_.push_back(open_bm25_channel(dir / "bm25", o));
    try {
      Xapian::Database db((dir / "bm25").string());
      if (db.get_doccount() != n)
        throw Error((dir / "bm25").string() + ": " + std::to_string(db.get_doccount()) +
                    " documents, the manifest says " + std::to_string(n) + " (damaged index)");
    } catch (const Xapian::Error& e) {
      throw Error((dir / "bm25").string() + ": " + e.get_msg());
    }
  }
  if (m.contains("prerank")) {
    const json& p = m["prerank"];
    if (!p.is_object() || !p.contains("store") || !p["store"].is_string() || !p.contains("models") ||
        !p["models"].is_string())
      throw Error(mpath.string() + ": field 'prerank': expected {\"store\": ..., \"models\": ...}");
    index->embeddings_ = EmbeddingStore::open(dir / p["store"].get<std::string>());
    if (index->embeddings_->rows() != n)
      throw Error((dir / p["store"].get<std::string>()).string() + ": " + std::to_string(index->embeddings_->rows()) +
                  " rows, the index has " + std::to_string(n) + " docs");
    index->models_dir_ = p["models"].get<std::string>();
  }
  return index;
}

fs::path Index::ann_file() const {
  if (!manifest_.contains("ann")) return {};
  const json& a = manifest_["ann"];
  if (!a.is_object() || !a.contains("file") || !a["file"].is_string())
    throw Error((dir_ / "manifest.json").string() + ": field 'ann': expected {\"file\": ..., \"type\": ...}");
  return dir_ / a["file"].get<std::string>();
}

std::uint64_t Index::ann_store_version() const {
  if (!manifest_.contains("ann") || !manifest_["ann"].is_object() || !manifest_["ann"].contains("store_version"))
    return 0;
  const json& v = manifest_["ann"]["store_version"];
  if (!v.is_number_unsigned())
    throw Error((dir_ / "manifest.json").string() + ": field 'ann.store_version': expected an integer >= 1");
  return v.get<std::uint64_t>();
}

const RecallChannel* Index::channel(const std::string& name) const {
  for (const auto& c : channels_)
    if (c->name() == name) return c.get();
  return nullptr;
}

std::vector<std::string> Index::channel_names() const {
  std::vector<std::string> out;
  for (const auto& c : channels_) out.push_back(c->name());
  return out;
}

}  // namespace funnel
