#include "prerank/torch/doc_batch.h"

#include <algorithm>

#include "nn/batching.h"

namespace funnel::prerank {

DocBatch make_doc_batch(const DocFeatures& f, const std::vector<std::uint32_t>& rows) {
  DocBatch d;
  d.text = nn::make_token_batch(f.tokens, rows);
  if (!f.title.empty()) d.title = nn::make_token_batch(f.title, rows);
  if (!f.bow.empty()) nn::make_bag(f.bow, rows, d.text.bag, d.text.bag_offsets);
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

}  // namespace funnel::prerank
