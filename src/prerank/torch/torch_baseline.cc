#include "prerank/torch/torch_baseline.h"

#include <torch/torch.h>

namespace funnel::prerank {

struct TorchScorerBaseline::Impl {
  torch::Tensor docs;  // [n, heads, dim]
  torch::Tensor enhance_w, enhance_b, hidden_w, hidden_b, out_w, out_b;
};

namespace {
torch::Tensor tensor_of(const std::vector<float>& v, std::vector<std::int64_t> shape) {
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat).clone();
}
}  // namespace

void TorchScorerBaseline::set_esim(const EsimWeights& w) {
  const std::int64_t D = w.dim, P = w.proj;
  impl_->enhance_w = tensor_of(w.enhance_w, {P, 4 * D});
  impl_->enhance_b = tensor_of(w.enhance_b, {P});
  impl_->hidden_w = tensor_of(w.hidden_w, {P, 4 * P});
  impl_->hidden_b = tensor_of(w.hidden_b, {P});
  impl_->out_w = tensor_of(w.out_w, {1, P});
  impl_->out_b = torch::full({1}, w.out_b);
}

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
  if (matcher == "esim") {
    namespace F = torch::nn::functional;
    auto& I = *impl_;
    auto qb = q.unsqueeze(0).expand({d.size(0), nq, dim});
    auto e = torch::matmul(qb, d.transpose(1, 2));                       // [C, nq, nd]
    auto q_al = torch::matmul(torch::softmax(e, 2), d);
    auto d_al = torch::matmul(torch::softmax(e, 1).transpose(1, 2), qb);
    auto mq = torch::relu(F::linear(torch::cat({qb, q_al, qb - q_al, qb * q_al}, 2), I.enhance_w, I.enhance_b));
    auto md = torch::relu(F::linear(torch::cat({d, d_al, d - d_al, d * d_al}, 2), I.enhance_w, I.enhance_b));
    auto v = torch::cat({mq.mean(1), std::get<0>(mq.max(1)), md.mean(1), std::get<0>(md.max(1))}, 1);
    auto s = F::linear(torch::relu(F::linear(v, I.hidden_w, I.hidden_b)), I.out_w, I.out_b).squeeze(1).contiguous();
    std::copy_n(s.data_ptr<float>(), out.size(), out.begin());
    return;
  }
  auto m = torch::matmul(d, q.t()).flatten(1);                                  // [C, nd*nq]
  torch::Tensor s;
  if (matcher == "dot") s = m.select(1, 0);
  else s = (torch::softmax(beta * m, 1) * m).sum(1);
  s = s.contiguous();
  std::copy_n(s.data_ptr<float>(), out.size(), out.begin());
}

}  // namespace funnel::prerank
