#include "feed/feed_model.h"

#include <faiss/IndexFlat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "core/config_util.h"
#include "funnel/error.h"
#include "util/fs.h"

namespace funnel::feed {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Process-wide caches: a folder is read once while anyone holds it.
template <class T, class Key>
class Cache {
 public:
  template <class Make>
  std::shared_ptr<const T> get(const Key& key, Make make) {
    std::lock_guard lock(mu_);
    if (auto it = map_.find(key); it != map_.end())
      if (auto p = it->second.lock()) return p;
    std::shared_ptr<const T> p = make();
    map_[key] = p;
    return p;
  }

 private:
  std::mutex mu_;
  std::map<Key, std::weak_ptr<const T>> map_;
};

fs::path canonical_dir(const fs::path& dir, const std::string& what) {
  std::error_code ec;
  fs::path c = fs::canonical(dir, ec);
  if (ec) throw Error(dir.string() + ": " + what + " not found");
  return c;
}

}  // namespace

LogPart part_from_name(const std::string& name, const std::string& where) {
  if (name == "train") return LogPart::kTrain;
  if (name == "dev") return LogPart::kDev;
  if (name == "test") return LogPart::kTest;
  throw Error(where + ": expected \"train\", \"dev\" or \"test\", got \"" + name + "\"");
}

const char* part_name(LogPart part) {
  switch (part) {
    case LogPart::kTrain: return "train";
    case LogPart::kDev: return "dev";
    case LogPart::kTest: return "test";
  }
  return "?";
}

std::shared_ptr<const FeedData> FeedData::open(const fs::path& dir) {
  static Cache<FeedData, std::string> cache;
  const fs::path c = canonical_dir(dir, "feed data folder");
  return cache.get(c.string(), [&] {
    auto d = std::make_shared<FeedData>();
    d->dir = c;
    d->corpus = read_corpus(c / "corpus.jsonl");
    d->log = load_feed_log(c, d->corpus);
    return d;
  });
}

std::vector<float> read_f32(const fs::path& file, std::size_t rows, std::size_t dim) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot open");
  std::vector<float> v(rows * dim);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  if (static_cast<std::size_t>(in.gcount()) != v.size() * sizeof(float) || in.peek() != EOF)
    throw Error(file.string() + ": expected " + std::to_string(rows) + " x " + std::to_string(dim) +
                " float32 values (" + std::to_string(v.size() * sizeof(float)) + " bytes)");
  for (float x : v)
    if (!std::isfinite(x)) throw Error(file.string() + ": holds a value that is not finite");
  return v;
}

void write_f32(const fs::path& file, std::span<const float> values) {
  detail::AtomicFile f(file);
  f.stream().write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size_bytes()));
  f.commit();
}

struct FeedModel::Ann {
  std::unique_ptr<faiss::IndexFlatIP> index;
};

FeedModel::~FeedModel() = default;

std::shared_ptr<const FeedModel> FeedModel::open(const fs::path& dir, LogPart as_of) {
  static Cache<FeedModel, std::pair<std::string, int>> cache;
  const fs::path c = canonical_dir(dir, "feed model folder");
  return cache.get({c.string(), static_cast<int>(as_of)}, [&] {
    const fs::path mf = c / "feed.json";
    const std::string where = mf.string();
    std::ifstream in(mf);
    if (!in) throw Error(where + ": cannot open (train the feed model with `funnel feed train`)");
    json m = json::parse(in, nullptr, false);
    if (m.is_discarded() || !m.is_object()) throw Error(where + ": not a JSON object");
    detail::check_keys(m, {"format", "version", "data", "options", "vectors", "rank", "trained"}, where);
    if (m.value("format", "") != "funnel-feed" || m.value("version", 0) != kFeedModelVersion)
      throw Error(where + ": not a funnel feed model of version " + std::to_string(kFeedModelVersion));
    auto model = std::shared_ptr<FeedModel>(new FeedModel());
    model->dir_ = c;
    model->manifest_ = m;
    model->data_ = FeedData::open(detail::get_string(m, "data", where));
    const FeedOptions options = feed_options_from_json(m.value("options", json::object()), where + ": options");
    model->state_ = FeedState::build(model->data_->corpus, model->data_->log, as_of, options);
    const std::size_t n_items = model->data_->corpus.docs.size();
    const std::size_t n_users = model->state_->users();
    if (m.contains("vectors") && !m["vectors"].is_null()) {
      const json& v = m["vectors"];
      const std::string vw = where + ": vectors";
      model->dim_ = detail::get_size(v, "dim", vw, 0);
      if (model->dim_ == 0) throw Error(vw + ": field 'dim': expected an integer >= 1");
      model->items_ = read_f32(c / detail::get_string(v, "items", vw), n_items, model->dim_);
      if (!v.contains("users") || !v["users"].is_object()) throw Error(vw + ": field 'users': expected an object");
      model->users_ = read_f32(c / detail::get_string(v["users"], part_name(as_of), vw + ".users"), n_users,
                               model->dim_);
      model->ann_ = std::make_unique<Ann>();
      model->ann_->index = std::make_unique<faiss::IndexFlatIP>(static_cast<faiss::Index::idx_t>(model->dim_));
      model->ann_->index->add(static_cast<faiss::Index::idx_t>(n_items), model->items_.data());
    }
    if (m.contains("rank") && !m["rank"].is_null()) {
      const json& r = m["rank"];
      const std::string rw = where + ": rank";
      if (!r.contains("heads") || !r["heads"].is_array() || r["heads"].empty())
        throw Error(rw + ": field 'heads': expected a non-empty list");
      for (const auto& h : r["heads"]) {
        if (!h.is_string()) throw Error(rw + ": field 'heads': expected strings");
        model->heads_.push_back(h.get<std::string>());
        model->head_models_.push_back(
            fusion::GbdtModel::load(c / detail::get_string(r.at("models"), h.get<std::string>().c_str(), rw)));
      }
    }
    return std::shared_ptr<const FeedModel>(model);
  });
}

std::span<const float> FeedModel::user_vector(std::uint32_t user) const {
  if (dim_ == 0 || user >= state_->users()) return {};
  return {users_.data() + std::size_t{user} * dim_, dim_};
}

std::span<const float> FeedModel::item_vector(std::uint32_t item) const {
  if (dim_ == 0) return {};
  return {items_.data() + std::size_t{item} * dim_, dim_};
}

std::vector<RecallHit> FeedModel::user_ann(std::uint32_t user, std::size_t k) const {
  std::vector<RecallHit> out;
  if (!ann_ || k == 0) return out;
  const auto q = user_vector(user);
  const auto ex = state_->excluded_items(user);
  const auto n = static_cast<faiss::Index::idx_t>(ann_->index->ntotal);
  const auto kk = std::min<faiss::Index::idx_t>(n, static_cast<faiss::Index::idx_t>(k + ex.size()));
  std::vector<float> dist(static_cast<std::size_t>(kk));
  std::vector<faiss::Index::idx_t> ids(static_cast<std::size_t>(kk));
  ann_->index->search(1, q.data(), kk, dist.data(), ids.data());
  for (faiss::Index::idx_t i = 0; i < kk && out.size() < k; ++i) {
    if (ids[i] < 0) break;
    const auto row = static_cast<std::uint32_t>(ids[i]);
    if (!state_->excluded(user, row)) out.push_back({row, dist[i]});
  }
  return out;
}

}  // namespace funnel::feed
