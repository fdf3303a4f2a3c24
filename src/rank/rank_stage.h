// Stage type "rank": the cross ranker scores every candidate it receives in
// one batch, sets each candidate's pXtr, fuses its score with the BM25
// score (funnel/fusion.h, weight fitted by `funnel fit --stage rank`) and
// keeps the best `keep`. Config: {"type": "rank", "keep": 100, "models": DIR,
// "corpus": PATH, "score_weights": {task: weight}, "recall_weight": W,
// "recall_channel": "bm25"}; the score is the sum of score_weights x head
// logits (docs/formats.md). Torch-free header.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "funnel/data.h"
#include "funnel/stage.h"

namespace funnel::rank {

// The neural ranker's stage, or the LambdaMART stage when the models folder
// holds MODELS/rank/lambdamart.json.
std::unique_ptr<Stage> make_rank_stage(const nlohmann::json& config, const Index& index, const std::string& where);

// Stage type "rank" served by a LambdaMART ranker (rank/lexical_ranker.h):
// MODELS/rank/{lambdamart.json, lexical.json, fusion.json}; config keys
// "keep", "models", "corpus", "recall_weight", "recall_channel". Sets each
// candidate's pXtr "relevance" to the model's score (lambdamart_stage.cc).
std::unique_ptr<Stage> make_lambdamart_stage(const nlohmann::json& config, const Index& index,
                                             const std::filesystem::path& models, const std::string& where);

// The corpus a rank stage reads doc fields from: the config's "corpus" (a
// corpus.jsonl or a data folder), else the data folder the ranker was
// trained on (MODELS/rank/data.json); it must hold the index's docs in the
// index's order. Throws funnel::Error naming `where`.
std::shared_ptr<const Corpus> load_rank_corpus(const nlohmann::json& config, const std::filesystem::path& models,
                                               const Index& index, const std::string& where);

}  // namespace funnel::rank
