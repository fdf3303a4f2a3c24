#include <algorithm>
#include <cmath>
#include <cstring>

#include "funnel/error.h"
#include "funnel/prerank_scorer.h"
#include "prerank/kernels.h"

namespace funnel {
using detail::DotKernels;

std::string matcher_name(Matcher m) {
  switch (m) {
    case Matcher::kDot: return "dot";
    case Matcher::kSoftAttention: return "soft_attention";
    case Matcher::kEsim: return "esim";
  }
  return "?";
}

Matcher parse_matcher(const std::string& name, const std::string& where) {
  if (name == "dot") return Matcher::kDot;
  if (name == "soft_attention") return Matcher::kSoftAttention;
  if (name == "esim") return Matcher::kEsim;
  throw Error(where + ": unknown matcher '" + name + "' (expected dot, soft_attention or esim)");
}

PrerankScorer::PrerankScorer(std::shared_ptr<const EmbeddingStore> store, const ScorerOptions& options)
    : store_(std::move(store)), options_(options) {
  if (!store_) throw Error("prerank scorer: no embedding store");
  if (options_.matcher == Matcher::kDot && store_->spec().heads != 1)
    throw Error("prerank scorer: matcher 'dot' needs one doc head, the store has " +
                std::to_string(store_->spec().heads));
  if (!(options_.beta > 0) || !std::isfinite(options_.beta))
    throw Error("prerank scorer: beta must be a positive number");
  if (options_.matcher == Matcher::kEsim) {
    const EsimWeights* w = options_.esim.get();
    if (!w) throw Error("prerank scorer: matcher 'esim' needs the model's matching-layer weights");
    const std::size_t D = w->dim, P = w->proj;
    if (D != store_->spec().dim)
      throw Error("prerank scorer: esim weights are for head size " + std::to_string(D) + ", the store has " +
                  std::to_string(store_->spec().dim));
    if (P == 0 || w->enhance_w.size() != P * 4 * D || w->enhance_b.size() != P || w->hidden_w.size() != P * 4 * P ||
        w->hidden_b.size() != P || w->out_w.size() != P)
      throw Error("prerank scorer: esim weights have the wrong shapes");
    if (store_->spec().heads > 64) throw Error("prerank scorer: esim takes at most 64 doc heads");
    fold_esim();
  }
  kernels_ = options_.portable ? &detail::generic_kernels() : &detail::best_kernels();
}

const char* PrerankScorer::kernel_name() const { return static_cast<const DotKernels*>(kernels_)->name; }

std::uint64_t PrerankScorer::flops_per_pair(std::uint32_t nq) const {
  const std::uint64_t nd = store_->spec().heads, dim = store_->spec().dim;
  // nq*nd inner products of length dim (2 flops per element); soft attention
  // adds, per cell, a scale, an exp, a sum and a weighted sum.
  std::uint64_t f = 2 * nq * nd * dim;
  if (options_.matcher == Matcher::kSoftAttention) f += 5 * nq * nd;
  if (options_.matcher == Matcher::kEsim) {
    // As served (esim.cc): similarities, both alignments and products, the
    // folded enhancement (2D inputs per query head, 3D per doc head),
    // pooling and the MLP. The per-request (W1 + W3) q is not counted.
    const std::uint64_t P = options_.esim->proj;
    f += 2 * 2 * nq * nd * dim + 10 * nq * nd + (nq + nd) * dim;
    f += 2 * P * (nq * 2 * dim + nd * 3 * dim) + 3 * (nq + nd) * P;
    f += 2 * P * 4 * P + 4 * P;
  }
  return f;
}

void PrerankScorer::score(std::span<const float> query, std::uint32_t nq, std::span<const std::uint32_t> rows,
                          std::span<float> out) const {
  const StoreSpec& spec = store_->spec();
  const std::size_t dim = spec.dim, nd = spec.heads;
  if (nq == 0 || query.size() != nq * dim)
    throw Error("prerank scorer: query must be nq x " + std::to_string(dim) + " floats, got " +
                std::to_string(query.size()) + " for nq = " + std::to_string(nq));
  if (options_.matcher == Matcher::kDot && nq != 1) throw Error("prerank scorer: matcher 'dot' needs one query head");
  if (out.size() != rows.size()) throw Error("prerank scorer: out and rows differ in length");
  if (options_.matcher == Matcher::kEsim) {
    for (std::uint32_t r : rows)
      if (r >= store_->rows()) throw Error("prerank scorer: row " + std::to_string(r) + " out of range");
    score_esim(query, nq, rows, out);
    return;
  }
  const auto& k = *static_cast<const DotKernels*>(kernels_);
  const std::size_t n_rows = store_->rows();
  const Precision prec = spec.precision;
  float cells[64 * 64];
  if (nq * nd > 64 * 64) throw Error("prerank scorer: at most 4096 head pairs");
  const float* q = query.data();

  for (std::uint32_t r : rows)
    if (r >= n_rows) throw Error("prerank scorer: row " + std::to_string(r) + " out of range");
  const std::size_t row_bytes = store_->row_bytes();
  if (options_.matcher == Matcher::kDot && !rows.empty()) {
    auto dot_rows = prec == Precision::kFp32 ? k.dot_rows_f32 : prec == Precision::kFp16 ? k.dot_rows_f16 : k.dot_rows_i8;
    dot_rows(q, store_->raw_row(0), row_bytes, rows.data(), rows.size(), dim, out.data());
    return;
  }
  // Candidates are scattered over the store: fetch rows a few candidates
  // ahead so that memory latency overlaps with the arithmetic.
  constexpr std::size_t kAhead = 16;
  auto prefetch = [&](std::size_t c) {
    const auto* p = store_->raw_row(rows[c]);
    for (std::size_t off = 0; off < row_bytes; off += 64) __builtin_prefetch(p + off);
  };
  for (std::size_t c = 0; c < std::min(kAhead, rows.size()); ++c) prefetch(c);

  for (std::size_t c = 0; c < rows.size(); ++c) {
    if (c + kAhead < rows.size()) prefetch(c + kAhead);
    const std::uint8_t* row = store_->raw_row(rows[c]);
    // M_ij for every query head i and doc head j.
    const std::size_t m = nq * nd;
    switch (prec) {
      case Precision::kFp32:
        k.cells_f32(q, nq, reinterpret_cast<const float*>(row), nd, dim, cells);
        break;
      case Precision::kFp16:
        k.cells_f16(q, nq, reinterpret_cast<const std::uint16_t*>(row), nd, dim, cells);
        break;
      case Precision::kInt8: {
        float scale;
        std::memcpy(&scale, row, 4);
        k.cells_i8(q, nq, reinterpret_cast<const std::int8_t*>(row + 4), nd, dim, cells);
        for (std::size_t i = 0; i < m; ++i) cells[i] *= scale;
        break;
      }
    }
    if (options_.matcher == Matcher::kDot) {
      out[c] = cells[0];
      continue;
    }
    out[c] = k.soft_attention(cells, m, options_.beta);
  }
}

}  // namespace funnel
