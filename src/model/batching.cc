#include "model/batching.h"

#include <algorithm>

namespace funnel::model {

namespace {
// EmbeddingBag input: all ids flat, and where each row's ids start.
void make_bag(const std::vector<std::vector<std::int64_t>>& bow, const std::vector<std::uint32_t>& rows,
              torch::Tensor& ids, torch::Tensor& offsets) {
  std::vector<std::int64_t> flat, starts;
  for (auto r : rows) {
    starts.push_back(static_cast<std::int64_t>(flat.size()));
    flat.insert(flat.end(), bow[r].begin(), bow[r].end());
  }
  ids = torch::tensor(flat, torch::kLong);
  offsets = torch::tensor(starts, torch::kLong);
}
}  // namespace

TokenBatch make_token_batch(const std::vector<std::vector<std::int64_t>>& tokens,
                            const std::vector<std::uint32_t>& rows,
                            const std::vector<std::vector<std::int64_t>>* bow) {
  std::size_t L = 1;
  for (auto r : rows) L = std::max(L, tokens[r].size());
  const auto B = static_cast<std::int64_t>(rows.size());
  auto ids = torch::zeros({B, static_cast<std::int64_t>(L)}, torch::kLong);
  auto pad = torch::ones({B, static_cast<std::int64_t>(L)}, torch::kBool);
  auto ia = ids.accessor<std::int64_t, 2>();
  auto pa = pad.accessor<bool, 2>();
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& t = tokens[rows[b]];
    for (std::size_t k = 0; k < t.size(); ++k) {
      ia[b][static_cast<std::int64_t>(k)] = t[k];
      pa[b][static_cast<std::int64_t>(k)] = false;
    }
  }
  TokenBatch out{ids, pad, {}, {}};
  if (bow && !bow->empty()) make_bag(*bow, rows, out.bag, out.bag_offsets);
  return out;
}

DocBatch make_doc_batch(const DocFeatures& f, const std::vector<std::uint32_t>& rows) {
  DocBatch d;
  d.text = make_token_batch(f.tokens, rows);
  if (!f.title.empty()) d.title = make_token_batch(f.title, rows);
  if (!f.bow.empty()) make_bag(f.bow, rows, d.text.bag, d.text.bag_offsets);
  const auto B = static_cast<std::int64_t>(rows.size());
  d.author = torch::empty({B}, torch::kLong);
  d.category = torch::empty({B}, torch::kLong);
  auto* ap = d.author.data_ptr<std::int64_t>();
  auto* cp = d.category.data_ptr<std::int64_t>();
  for (std::int64_t b = 0; b < B; ++b) {
    ap[b] = f.author[rows[b]];
    cp[b] = f.category[rows[b]];
  }
  if (f.image_dim > 0) {
    d.image = torch::empty({B, f.image_dim});
    float* p = d.image.data_ptr<float>();
    for (std::int64_t b = 0; b < B; ++b)
      std::copy_n(f.image.data() + static_cast<std::size_t>(rows[b]) * f.image_dim, f.image_dim, p + b * f.image_dim);
  }
  return d;
}

}  // namespace funnel::model
