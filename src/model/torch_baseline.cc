#include "model/torch_baseline.h"

#include <torch/torch.h>

namespace funnel::model {

struct TorchScorerBaseline::Impl {
  torch::Tensor docs;  // [n, heads, dim]
};

TorchScorerBaseline::TorchScorerBaseline(std::span<const float> rows, std::size_t n, std::uint32_t heads,
                                         std::uint32_t dim)
    : impl_(new Impl) {
  // One thread, like the serving kernels: a fair per-core comparison, and
  // idle OpenMP workers would otherwise spin and steal the other core from
  // the kernel being timed.
  torch::set_num_threads(1);
  impl_->docs = torch::from_blob(const_cast<float*>(rows.data()),
                                 {static_cast<std::int64_t>(n), heads, dim}, torch::kFloat)
                    .clone();
}

TorchScorerBaseline::~TorchScorerBaseline() { delete impl_; }

void TorchScorerBaseline::score(const std::string& matcher, float beta, std::span<const float> query,
                                std::uint32_t nq, std::span<const std::uint32_t> rows, std::span<float> out) const {
  torch::NoGradGuard no_grad;
  const auto dim = impl_->docs.size(2);
  auto idx = torch::empty({static_cast<std::int64_t>(rows.size())}, torch::kLong);
  auto* ip = idx.data_ptr<std::int64_t>();
  for (std::size_t i = 0; i < rows.size(); ++i) ip[i] = rows[i];
  auto d = impl_->docs.index_select(0, idx);                                    // [C, nd, D]
  auto q = torch::from_blob(const_cast<float*>(query.data()), {nq, dim}, torch::kFloat);
  auto m = torch::matmul(d, q.t()).flatten(1);                                  // [C, nd*nq]
  torch::Tensor s;
  if (matcher == "dot") s = m.select(1, 0);
  else s = (torch::softmax(beta * m, 1) * m).sum(1);
  s = s.contiguous();
  std::copy_n(s.data_ptr<float>(), out.size(), out.begin());
}

}  // namespace funnel::model
