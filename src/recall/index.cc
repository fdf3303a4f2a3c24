#include "funnel/index.h"

#include <fstream>

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
    for (const Doc& d : corpus.docs) f.stream() << d.id << '\t' << one_line(d.title) << '\n';
    f.commit();
  }
  json manifest = {{"format_version", kIndexFormatVersion},
                   {"docs", corpus.docs.size()},
                   {"image_dim", corpus.image_dim},
                   {"channels", {{"bm25", {{"path", "bm25"}, {"options", bm25_options_to_json(options.bm25)}}}}}};
  {
    detail::AtomicFile f(stage.path() / "manifest.json");
    f.stream() << manifest.dump(2) << '\n';
    f.commit();
  }
  stage.commit();
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
  std::string line;
  index->ids_.reserve(n);
  index->titles_.reserve(n);
  while (std::getline(in, line)) {
    auto tab = line.find('\t');
    if (tab == std::string::npos)
      throw Error(dpath.string() + ":" + std::to_string(index->ids_.size() + 1) + ": expected id<TAB>title");
    index->ids_.push_back(line.substr(0, tab));
    index->titles_.push_back(line.substr(tab + 1));
  }
  if (index->ids_.size() != n)
    throw Error(dpath.string() + ": " + std::to_string(index->ids_.size()) + " rows, manifest says " +
                std::to_string(n) + " (damaged index)");

  const json& channels = m.value("channels", json::object());
  if (channels.contains("bm25")) {
    Bm25Options o = bm25_options_from_json(channels["bm25"].value("options", json::object()),
                                           mpath.string() + ": channels.bm25.options");
    index->channels_.push_back(open_bm25_channel(dir / "bm25", o));
  }
  return index;
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
