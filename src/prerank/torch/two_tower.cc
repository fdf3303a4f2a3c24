#include "prerank/torch/two_tower.h"

namespace funnel::prerank {
namespace F = torch::nn::functional;

EsimMatcherImpl::EsimMatcherImpl(int head_dim, int proj) : proj_(proj) {
  enhance_ = register_module("enhance", torch::nn::Linear(4 * head_dim, proj));
  hidden_ = register_module("hidden", torch::nn::Linear(4 * proj, proj));
  out_ = register_module("out", torch::nn::Linear(proj, 1));
}

torch::Tensor EsimMatcherImpl::forward(const torch::Tensor& q, const torch::Tensor& d) {
  auto e = torch::matmul(q, d.transpose(1, 2));                        // [N, nq, nd]
  auto q_al = torch::matmul(torch::softmax(e, 2), d);                  // [N, nq, D]
  auto d_al = torch::matmul(torch::softmax(e, 1).transpose(1, 2), q);  // [N, nd, D]
  auto mq = torch::relu(enhance_(torch::cat({q, q_al, q - q_al, q * q_al}, 2)));
  auto md = torch::relu(enhance_(torch::cat({d, d_al, d - d_al, d * d_al}, 2)));
  auto v = torch::cat({mq.mean(1), std::get<0>(mq.max(1)), md.mean(1), std::get<0>(md.max(1))}, 1);
  return out_(torch::relu(hidden_(v))).squeeze(1);
}

std::int64_t EsimMatcherImpl::flops_per_pair(int nq, int nd, int D) const {
  const std::int64_t P = proj_;
  std::int64_t f = 0;
  f += 2LL * nq * nd * D * 3;           // similarity matrix and both alignments
  f += 2LL * 5 * nq * nd;               // two softmaxes
  f += 3LL * (nq + nd) * D;             // enhancement (difference, product)
  f += 2LL * (nq + nd) * 4 * D * P;     // projection
  f += 2LL * (nq + nd) * P;             // pooling
  f += 2LL * 4 * P * P + 2LL * P;       // MLP
  return f;
}

TwoTowerImpl::TwoTowerImpl(const TwoTowerConfig& c) : c_(c) {
  const int H = c.encoder.hidden;
  query_enc_ = register_module("query_enc", nn::TextEncoder(c.encoder));
  doc_enc_ = c.shared_encoder ? query_enc_ : register_module("doc_enc", nn::TextEncoder(c.encoder));
  query_heads_ = register_module("query_heads", torch::nn::Linear(H, c.nq * c.head_dim));
  doc_heads_ = register_module("doc_heads", torch::nn::Linear(H, c.nd * c.head_dim));
  fusion_ = register_module("fusion", torch::nn::Linear(H, 1));
  if (c.use_author) {
    author_ = register_module("author", torch::nn::Embedding(c.author_buckets, H));
    category_ = register_module("category", torch::nn::Embedding(16, H));
  }
  if (c.use_image && c.image_dim > 0)
    image_ = register_module("image", torch::nn::Sequential(torch::nn::Linear(c.image_dim, H), torch::nn::GELU(),
                                                            torch::nn::Linear(H, H)));
  if (c.bow_buckets > 0)
    bow_ = register_module("bow", torch::nn::EmbeddingBag(torch::nn::EmbeddingBagOptions(c.bow_buckets, H)
                                                               .mode(torch::kMean)));
  if (c.matcher == "esim") esim_ = register_module("esim", EsimMatcher(c.head_dim, c.esim_proj));
}

torch::Tensor TwoTowerImpl::encode_queries(const nn::TokenBatch& q) {
  auto x = query_enc_(q);
  if (bow_) {
    TORCH_CHECK(q.bag.defined(), "bow model needs the query's word bag");
    x = x + bow_(q.bag, q.bag_offsets);
  }
  auto h = query_heads_(x).view({-1, c_.nq, c_.head_dim});
  return c_.cosine ? F::normalize(h, F::NormalizeFuncOptions().dim(2)) : h;
}

torch::Tensor TwoTowerImpl::encode_docs(const DocBatch& d) {
  std::vector<torch::Tensor> channels{doc_enc_(d.text)};
  if (bow_) {
    TORCH_CHECK(d.text.bag.defined(), "bow model needs the doc's word bag");
    channels.push_back(bow_(d.text.bag, d.text.bag_offsets));
  }
  if (c_.split_fields) {
    TORCH_CHECK(d.title.ids.defined(), "split_fields model needs the title channel");
    channels.push_back(doc_enc_(d.title));
  }
  if (author_) {
    channels.push_back(author_(d.author));
    channels.push_back(category_(d.category));
  }
  if (image_ && d.image.defined()) channels.push_back(image_->forward(d.image));
  auto e = torch::stack(channels, 1);                     // [B, K, H]
  // Simple attention fusion (Que2Search): a = softmax(w . e_k), f = sum a_k e_k.
  auto a = torch::softmax(fusion_(e).squeeze(2), 1);      // [B, K]
  fusion_weights_ = a.detach();
  auto fused = (a.unsqueeze(2) * e).sum(1);
  auto h = doc_heads_(fused).view({-1, c_.nd, c_.head_dim});
  return c_.cosine ? F::normalize(h, F::NormalizeFuncOptions().dim(2)) : h;
}

torch::Tensor TwoTowerImpl::score_pairs(const torch::Tensor& q, const torch::Tensor& d) {
  if (c_.matcher == "esim") return esim_(q, d);
  auto m = torch::matmul(q, d.transpose(1, 2)).flatten(1);  // [B, nq*nd]
  if (c_.matcher == "dot") return m.select(1, 0);
  auto w = torch::softmax(c_.beta * m, 1);
  return (w * m).sum(1);
}

torch::Tensor TwoTowerImpl::score_matrix(const torch::Tensor& q, const torch::Tensor& d) {
  const auto Bq = q.size(0), Bd = d.size(0);
  if (c_.matcher == "esim") {
    auto qq = q.unsqueeze(1).expand({Bq, Bd, c_.nq, c_.head_dim}).reshape({Bq * Bd, c_.nq, c_.head_dim});
    auto dd = d.unsqueeze(0).expand({Bq, Bd, c_.nd, c_.head_dim}).reshape({Bq * Bd, c_.nd, c_.head_dim});
    return esim_(qq, dd).view({Bq, Bd});
  }
  // M[b, c, i, j] = <q_b,i , d_c,j>
  auto m = torch::einsum("bid,cjd->bcij", {q, d}).reshape({Bq, Bd, c_.nq * c_.nd});
  if (c_.matcher == "dot") return m.select(2, 0);
  auto w = torch::softmax(c_.beta * m, 2);
  return (w * m).sum(2);
}

std::int64_t TwoTowerImpl::flops_per_pair() const {
  if (c_.matcher == "esim") return esim_->flops_per_pair(c_.nq, c_.nd, c_.head_dim);
  std::int64_t f = 2LL * c_.nq * c_.nd * c_.head_dim;
  if (c_.matcher == "soft_attention") f += 5LL * c_.nq * c_.nd;
  return f;
}

}  // namespace funnel::prerank
