// Serving-time ESIM matcher (docs/techniques.md, section 3) as batched matrix products.
//
// Per candidate, with q the nq query heads and d the nd doc heads (D floats
// each), the trained layer (model/two_tower.cc, EsimMatcher) computes
//   e      = q d^T                                   [nq x nd]
//   q~_i   = sum_j softmax_j(e_i.) d_j,  d~_j = sum_i softmax_i(e_.j) q_i
//   m(x,a) = relu(W [x; a; x - a; x * a] + b)         [P]
//   v      = [mean_i m(q_i, q~_i); max_i ...; mean_j m(d_j, d~_j); max_j ...]
//   score  = w_o . relu(W_h v + b_h) + b_o
// With W = [W1 W2 W3 W4] split by input block,
//   W [x; a; x - a; x * a] = (W1 + W3) x + (W2 - W3) a + W4 (x * a),
// so the scorer keeps three folded blocks. (W1 + W3) q + b is the same for
// every candidate and is computed once per request. The remaining products
// run over a chunk of candidates at a time as three SGEMMs (similarities,
// enhancement of both sides, hidden layer), which keeps the working set in
// cache and lets BLAS do the bulk of the arithmetic.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <vector>

#include "funnel/error.h"
#include "funnel/prerank_scorer.h"

namespace funnel {

namespace {

// C[M x N] = A[M x K] * B[N x K]^T (+ C when accumulate).
void gemm_nt(std::size_t M, std::size_t N, std::size_t K, const float* A, const float* B, float* C, bool accumulate) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K),
              1.0f, A, static_cast<int>(K), B, static_cast<int>(K), accumulate ? 1.0f : 0.0f, C, static_cast<int>(N));
}

// Softmax of n values spaced `stride` apart, written densely to out.
void softmax_strided(const float* x, std::size_t n, std::size_t stride, float* out) {
  float mx = x[0];
  for (std::size_t i = 1; i < n; ++i) mx = std::max(mx, x[i * stride]);
  float z = 0;
  for (std::size_t i = 0; i < n; ++i) z += out[i] = std::exp(x[i * stride] - mx);
  for (std::size_t i = 0; i < n; ++i) out[i] /= z;
}

}  // namespace

void PrerankScorer::fold_esim() {
  // One BLAS thread: a request's products are small, and on a machine with
  // few cores OpenBLAS's spinning workers steal the cores other requests
  // (and libtorch) need. Requests run in parallel instead.
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
  const EsimWeights& w = *options_.esim;
  const std::size_t D = w.dim, P = w.proj;
  esim_x_.resize(P * D);
  esim_fold_q_.resize(P * 2 * D);
  esim_fold_d_.resize(P * 3 * D);
  for (std::size_t p = 0; p < P; ++p) {
    const float* W = &w.enhance_w[p * 4 * D];  // [W1 | W2 | W3 | W4] of output p
    for (std::size_t k = 0; k < D; ++k) {
      const float x = W[k] + W[2 * D + k], a = W[D + k] - W[2 * D + k], xa = W[3 * D + k];
      esim_x_[p * D + k] = x;
      esim_fold_q_[p * 2 * D + k] = a;
      esim_fold_q_[p * 2 * D + D + k] = xa;
      esim_fold_d_[p * 3 * D + k] = x;
      esim_fold_d_[p * 3 * D + D + k] = a;
      esim_fold_d_[p * 3 * D + 2 * D + k] = xa;
    }
  }
}

void PrerankScorer::score_esim(std::span<const float> query, std::uint32_t nq, std::span<const std::uint32_t> rows,
                               std::span<float> out) const {
  const EsimWeights& w = *options_.esim;
  const StoreSpec& spec = store_->spec();
  const std::size_t D = spec.dim, nd = spec.heads, P = w.proj, Q = nq;
  const float* q = query.data();
  if (Q > 64) throw Error("prerank scorer: esim takes at most 64 query heads");
  // Per request: (W1 + W3) q_i + b for every query head.
  std::vector<float> q_const(Q * P);
  gemm_nt(Q, P, D, q, esim_x_.data(), q_const.data(), false);
  for (std::size_t i = 0; i < Q; ++i)
    for (std::size_t p = 0; p < P; ++p) q_const[i * P + p] += w.enhance_b[p];

  constexpr std::size_t kChunk = 128;
  std::vector<float> docs(kChunk * nd * D), sim(kChunk * nd * Q);
  std::vector<float> xq(kChunk * Q * 2 * D), xd(kChunk * nd * 3 * D);  // [a | x*a] and [x | a | x*a]
  std::vector<float> mq(kChunk * Q * P), md(kChunk * nd * P), v(kChunk * 4 * P), h(kChunk * P);
  float soft[64];

  for (std::size_t start = 0; start < rows.size(); start += kChunk) {
    const std::size_t C = std::min(kChunk, rows.size() - start);
    // The chunk's doc heads as floats, whatever the storage precision.
    for (std::size_t c = 0; c < C; ++c) store_->decode_row(rows[start + c], std::span<float>(&docs[c * nd * D], nd * D));
    // sim[(c, j), i] = <d_cj, q_i>
    gemm_nt(C * nd, Q, D, docs.data(), q, sim.data(), false);
    for (std::size_t c = 0; c < C; ++c) {
      const float* s = &sim[c * nd * Q];  // s[j * Q + i]
      const float* d = &docs[c * nd * D];
      // Query side: q~_i over the doc heads.
      for (std::size_t i = 0; i < Q; ++i) {
        softmax_strided(s + i, nd, Q, soft);
        float* a = &xq[(c * Q + i) * 2 * D];
        std::fill_n(a, D, 0.0f);
        for (std::size_t j = 0; j < nd; ++j)
          for (std::size_t k = 0; k < D; ++k) a[k] += soft[j] * d[j * D + k];
        for (std::size_t k = 0; k < D; ++k) a[D + k] = q[i * D + k] * a[k];
      }
      // Doc side: d~_j over the query heads.
      for (std::size_t j = 0; j < nd; ++j) {
        softmax_strided(s + j * Q, Q, 1, soft);
        float* x = &xd[(c * nd + j) * 3 * D];
        std::copy_n(d + j * D, D, x);
        float* a = x + D;
        std::fill_n(a, D, 0.0f);
        for (std::size_t i = 0; i < Q; ++i)
          for (std::size_t k = 0; k < D; ++k) a[k] += soft[i] * q[i * D + k];
        for (std::size_t k = 0; k < D; ++k) x[2 * D + k] = x[k] * a[k];
      }
    }
    gemm_nt(C * Q, P, 2 * D, xq.data(), esim_fold_q_.data(), mq.data(), false);
    gemm_nt(C * nd, P, 3 * D, xd.data(), esim_fold_d_.data(), md.data(), false);
    // Pooling: v_c = [mean mq; max mq; mean md; max md] after relu.
    for (std::size_t c = 0; c < C; ++c) {
      float* vc = &v[c * 4 * P];
      for (std::size_t p = 0; p < P; ++p) {
        float sum = 0, mx = 0;  // relu outputs are >= 0, so 0 starts the max
        for (std::size_t i = 0; i < Q; ++i) {
          const float x = std::max(0.0f, mq[(c * Q + i) * P + p] + q_const[i * P + p]);
          sum += x;
          mx = std::max(mx, x);
        }
        vc[p] = sum / static_cast<float>(Q);
        vc[P + p] = mx;
        sum = 0;
        mx = 0;
        for (std::size_t j = 0; j < nd; ++j) {
          const float x = std::max(0.0f, md[(c * nd + j) * P + p] + w.enhance_b[p]);
          sum += x;
          mx = std::max(mx, x);
        }
        vc[2 * P + p] = sum / static_cast<float>(nd);
        vc[3 * P + p] = mx;
      }
    }
    gemm_nt(C, P, 4 * P, v.data(), w.hidden_w.data(), h.data(), false);
    for (std::size_t c = 0; c < C; ++c) {
      float s = w.out_b;
      for (std::size_t p = 0; p < P; ++p) s += w.out_w[p] * std::max(0.0f, h[c * P + p] + w.hidden_b[p]);
      out[start + c] = s;
    }
  }
}

}  // namespace funnel
