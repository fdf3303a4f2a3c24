#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <unordered_map>

#include "funnel/ann.h"
#include "funnel/error.h"
#include "funnel/fusion.h"
#include "util/fs.h"

namespace funnel {
namespace fs = std::filesystem;

namespace {

using idx_t = faiss::Index::idx_t;

std::vector<float> all_vectors(const EmbeddingStore& store) {
  const std::size_t per = std::size_t{store.spec().heads} * store.spec().dim;
  std::vector<float> v(store.rows() * per);
  for (std::size_t r = 0; r < store.rows(); ++r) store.decode_row(r, std::span<float>(v.data() + r * per, per));
  return v;
}

class AnnChannel final : public RecallChannel {
 public:
  AnnChannel(const fs::path& file, std::shared_ptr<const QueryEncoder> enc, std::uint32_t nd, const AnnOptions& o)
      : enc_(std::move(enc)), nd_(nd) {
    try {
      index_.reset(faiss::read_index(file.c_str()));
    } catch (const faiss::FaissException& e) {
      throw Error(file.string() + ": cannot read ANN index: " + e.msg);
    }
    if (static_cast<std::uint32_t>(index_->d) != enc_->dim())
      throw Error(file.string() + ": ANN vectors have dimension " + std::to_string(index_->d) + ", the query tower " +
                  std::to_string(enc_->dim()));
    if (auto* h = dynamic_cast<faiss::IndexHNSW*>(index_.get())) h->hnsw.efSearch = o.ef_search;
    if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index_.get())) ivf->nprobe = static_cast<std::size_t>(o.ivf_nprobe);
  }

  std::string name() const override { return "ann"; }

  std::vector<RecallHit> search(std::string_view query, std::size_t k) const override {
    std::vector<RecallHit> hits;
    if (k == 0) return hits;
    std::vector<float> q = enc_->encode(query);
    const auto nq = static_cast<idx_t>(enc_->heads());
    // A doc has nd vectors: ask for more so that k distinct docs survive.
    const auto kk = static_cast<idx_t>(std::min<std::size_t>(k * nd_, static_cast<std::size_t>(index_->ntotal)));
    std::vector<float> dist(static_cast<std::size_t>(nq * kk));
    std::vector<idx_t> ids(static_cast<std::size_t>(nq * kk));
    {
      std::lock_guard lock(mu_);
      index_->search(nq, q.data(), kk, dist.data(), ids.data());
    }
    std::unordered_map<std::uint32_t, float> best;  // MaxSim over query and doc heads
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0) continue;
      auto row = static_cast<std::uint32_t>(static_cast<std::uint64_t>(ids[i]) / nd_);
      auto [it, fresh] = best.emplace(row, dist[i]);
      if (!fresh) it->second = std::max(it->second, dist[i]);
    }
    hits.reserve(best.size());
    for (auto [row, s] : best) hits.push_back({row, s});
    std::sort(hits.begin(), hits.end(),
              [](const RecallHit& a, const RecallHit& b) { return ranks_before(a.score, a.row, b.score, b.row); });
    if (hits.size() > k) hits.resize(k);
    return hits;
  }

 private:
  std::shared_ptr<const QueryEncoder> enc_;
  std::uint32_t nd_;
  std::unique_ptr<faiss::Index> index_;
  mutable std::mutex mu_;
};

}  // namespace

void build_ann_index(const EmbeddingStore& store, const fs::path& file, const AnnOptions& o) {
  const auto d = static_cast<idx_t>(store.spec().dim);
  std::vector<float> v = all_vectors(store);
  const auto n = static_cast<idx_t>(store.rows() * store.spec().heads);
  std::unique_ptr<faiss::Index> index;
  std::unique_ptr<faiss::IndexFlatIP> quantizer;
  try {
    if (o.type == "hnsw") {
      auto h = std::make_unique<faiss::IndexHNSWFlat>(d, o.hnsw_m, faiss::METRIC_INNER_PRODUCT);
      h->hnsw.efConstruction = o.ef_construction;
      index = std::move(h);
    } else if (o.type == "ivf") {
      int nlist = o.ivf_nlist > 0 ? o.ivf_nlist : std::max(1, static_cast<int>(4 * std::sqrt(static_cast<double>(n))));
      quantizer = std::make_unique<faiss::IndexFlatIP>(d);
      auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer.get(), d, static_cast<std::size_t>(nlist),
                                                       faiss::METRIC_INNER_PRODUCT);
      ivf->own_fields = true;
      quantizer.release();
      ivf->train(n, v.data());
      index = std::move(ivf);
    } else {
      throw Error("ann: unknown index type '" + o.type + "' (expected hnsw or ivf)");
    }
    index->add(n, v.data());
    fs::path tmp = file;
    tmp += ".tmp";
    faiss::write_index(index.get(), tmp.c_str());
    detail::fsync_path(tmp);
    fs::rename(tmp, file);
  } catch (const faiss::FaissException& e) {
    throw Error(file.string() + ": building the ANN index failed: " + e.msg);
  }
}

std::unique_ptr<RecallChannel> open_ann_channel(const fs::path& file, std::shared_ptr<const QueryEncoder> encoder,
                                                std::uint32_t heads_per_doc, const AnnOptions& options) {
  if (!fs::is_regular_file(file)) throw Error(file.string() + ": ANN index missing (build with `funnel index --models`)");
  return std::make_unique<AnnChannel>(file, std::move(encoder), heads_per_doc, options);
}

std::vector<std::uint32_t> exact_top_k(const EmbeddingStore& store, std::span<const float> query, std::uint32_t nq,
                                       std::size_t k) {
  const std::size_t dim = store.spec().dim, nd = store.spec().heads;
  std::vector<float> row(nd * dim);
  std::vector<std::pair<float, std::uint32_t>> scored(store.rows());
  for (std::size_t r = 0; r < store.rows(); ++r) {
    store.decode_row(r, row);
    float best = -INFINITY;
    for (std::size_t i = 0; i < nq; ++i)
      for (std::size_t j = 0; j < nd; ++j) {
        float s = 0;
        for (std::size_t t = 0; t < dim; ++t) s += query[i * dim + t] * row[j * dim + t];
        best = std::max(best, s);
      }
    scored[r] = {best, static_cast<std::uint32_t>(r)};
  }
  k = std::min(k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end(),
                    [](auto& a, auto& b) { return ranks_before(a.first, a.second, b.first, b.second); });
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i < k; ++i) out.push_back(scored[i].second);
  return out;
}

}  // namespace funnel
