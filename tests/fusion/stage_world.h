// A small index for the fusion and re-rank stage tests: n docs that all
// match the query "clip", each with an author, a category and a stored
// embedding, and a stage type "table_rank" that plays the rank stage: it
// scores row r as score[r] and sets its pXtr (relevance, click, watch,
// like) from fixed tables.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/index.h"
#include "funnel/pipeline.h"
#include "funnel/stage.h"
#include "test_util.h"

namespace funnel::test {

class VectorEncoder final : public DocEncoder {
 public:
  VectorEncoder(std::vector<float> v, std::uint32_t dim, std::string models)
      : v_(std::move(v)), dim_(dim), models_(std::move(models)) {}
  std::string model_id() const override { return "test-vectors"; }
  std::string models_dir() const override { return models_; }
  std::uint32_t heads() const override { return 1; }
  std::uint32_t dim() const override { return dim_; }
  std::vector<float> encode(const Corpus&, const ProgressFn&) const override { return v_; }

 private:
  std::vector<float> v_;
  std::uint32_t dim_;
  std::string models_;
};

// Row r: author "a<r % authors>", category "short" for even r else "long",
// embedding: one of `clusters` unit directions ((r / block) % clusters) in
// 8 dims, so `block` consecutive rows are duplicates.
struct StageWorld {
  TempDir tmp;
  std::shared_ptr<const Index> index;
  std::size_t n;

  explicit StageWorld(std::size_t docs = 12, std::size_t authors = 3, std::size_t clusters = 4, std::size_t block = 1)
      : n(docs) {
    Corpus c;
    std::vector<float> vecs;
    for (std::size_t r = 0; r < docs; ++r) {
      Doc d;
      d.id = "d" + std::to_string(r);
      d.title = "clip number " + std::to_string(r);
      d.author = "a" + std::to_string(r % authors);
      d.category = r % 2 == 0 ? "short" : "long";
      c.row_of[d.id] = static_cast<std::uint32_t>(r);
      c.docs.push_back(d);
      for (std::size_t k = 0; k < 8; ++k) vecs.push_back(k == (r / block) % clusters ? 1.0f : 0.0f);
    }
    std::filesystem::create_directories(tmp.path() / "models");
    VectorEncoder enc(vecs, 8, (tmp.path() / "models").string());
    IndexOptions o;
    o.encoder = &enc;
    build_index(c, tmp.path() / "index", o);
    index = Index::open(tmp.path() / "index");
    register_stage_type("table_rank", [](const nlohmann::json&, const Index&, const std::string&) {
      return std::unique_ptr<Stage>(new TableRank());
    });
  }

  std::filesystem::path models() const { return tmp.path() / "models"; }

  // recall (bm25, all docs) -> table_rank -> `tail` stages.
  nlohmann::json cascade(const nlohmann::json& tail) const {
    nlohmann::json stages = {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", 100}}}}},
                             {{"name", "rank"}, {"type", "table_rank"}}};
    for (const auto& s : tail) stages.push_back(s);
    return {{"stages", stages}};
  }

  // The tables: score falls with the row; watch rises with it; click and
  // like alternate.
  static float score_of(std::uint32_t r) { return 10.0f - static_cast<float>(r); }
  static float watch_of(std::uint32_t r) { return 0.05f * static_cast<float>(r); }

  class TableRank final : public Stage {
   public:
    void run(const StageContext&, std::vector<Candidate>& cands) const override {
      static const auto names = std::make_shared<const std::vector<std::string>>(
          std::vector<std::string>{"relevance", "click", "watch", "like"});
      for (auto& c : cands) {
        c.score = score_of(c.row);
        c.pxtr_names = names;
        c.pxtr = std::vector<float>{score_of(c.row) / 10.0f, c.row % 2 ? 0.3f : 0.1f, watch_of(c.row),
                                    c.row % 3 == 0 ? 0.05f : 0.01f};
      }
      std::sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    }
    StageRole role() const override { return StageRole::kRank; }
  };
};

inline std::vector<std::string> ids(const Response& r) {
  std::vector<std::string> out;
  for (const auto& it : r.items) out.push_back(it.doc_id);
  return out;
}

}  // namespace funnel::test
