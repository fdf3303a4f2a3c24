// The head report of a cascade's pre-rank model (funnel/eval.h): it loads
// the query tower, so it lives with the model-backed sources.
#include <cstdio>

#include "funnel/embedding_store.h"
#include "funnel/eval.h"
#include "prerank/prerank_model.h"

namespace funnel {

nlohmann::json prerank_head_report(const Index& index, const nlohmann::json& cfg, const std::vector<Query>& queries,
                           const Qrels& qrels) {
  std::string models = index.models_dir();
  std::string stage;
  for (const auto& s : cfg["stages"])
    if (s.value("type", "") == "prerank") {
      stage = s.value("name", "prerank");
      models = s.value("models", models);
      break;
    }
  if (stage.empty() || !index.embeddings()) return nullptr;
  auto model = prerank::PrerankModel::load(models);
  std::vector<std::string> texts;
  for (const auto& q : queries)
    if (qrels.count(q.id) && texts.size() < 1000) texts.push_back(q.text);
  const auto& c = model->config();
  auto qv = model->encode_queries(texts);
  const auto& store = *index.embeddings();
  const std::uint32_t nd = store.spec().heads, dim = store.spec().dim;
  const std::size_t n = std::min<std::size_t>(1000, store.rows());
  std::vector<float> dv(n * nd * dim);
  for (std::size_t i = 0; i < n; ++i)
    store.decode_row(i * store.rows() / n, std::span<float>(dv.data() + i * nd * dim, std::size_t{nd} * dim));
  auto matrix = [](const std::vector<double>& m, std::size_t k) {
    nlohmann::json rows = nlohmann::json::array();
    for (std::size_t i = 0; i < k; ++i) rows.push_back(std::vector<double>(m.begin() + i * k, m.begin() + (i + 1) * k));
    return rows;
  };
  return {{"stage", stage},
          {"queries", texts.size()},
          {"docs", n},
          {"query_head_cosine",
           matrix(mean_head_cosine(qv, texts.size(), static_cast<std::uint32_t>(c.nq), static_cast<std::uint32_t>(c.head_dim)),
                  static_cast<std::size_t>(c.nq))},
          {"doc_head_cosine", matrix(mean_head_cosine(dv, n, nd, dim), nd)}};
}

std::string head_report_text(const nlohmann::json& h) {
  std::string out = "head report (" + h["stage"].get<std::string>() + "): mean cosine between a query's own heads";
  auto show = [&](const nlohmann::json& m) {
    for (const auto& row : m) {
      out += "\n   ";
      for (double x : row) {
        char buf[16];
        std::snprintf(buf, sizeof buf, " %+.2f", x);
        out += buf;
      }
    }
  };
  show(h["query_head_cosine"]);
  out += "\n  and between a doc's own heads";
  show(h["doc_head_cosine"]);
  return out + "\n";
}

}  // namespace funnel
