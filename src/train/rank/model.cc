// The ranker's model, tokenizer, inputs and optimiser, and its forward pass
// on (query, row) pairs.
#include "train/rank/trainer.h"

#include "nn/batching.h"
#include "train/common/encoder_setup.h"
#include "train/common/log.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

void RankTrainer::build_model() {
  rank::CrossRankerConfig c;
  c.preset = o_.preset;
  c.encoder = nn::encoder_preset(o_.preset);
  c.encoder.max_len = o_.max_len;
  c.use_text = o_.use_text;
  c.use_features = o_.use_features;
  c.n_features = o_.use_features ? static_cast<int>(kF) : 0;
  if (o_.use_features) {
    c.feature_mean = mean_;
    c.feature_std = std_;
    for (const auto& n : rank::CrossFeatures::names()) c.feature_names.push_back(n);
  }
  c.dnn = o_.dnn;
  c.tasks = tasks_;
  for (const auto& t : tasks_) {
    auto it = o_.task_weights.find(t);
    c.task_weights.push_back(it != o_.task_weights.end() ? it->second : default_task_weight(t));
    c.score_weights.push_back(t == "relevance" ? 1.0 : 0.0);
  }
  std::vector<std::string> query_text;
  for (auto q : train_queries_) query_text.push_back(ds_.queries[q].text);
  EncoderStart start = start_encoder(dir_, c.encoder, o_.init, ds_.corpus, query_text, o_.seed, false, log_);
  tokenizer_ = std::move(start.tokenizer);
  rank::cross_ranker_from_json(to_json(c), "ranker config");  // validates
  config_ = c;
  net_ = rank::CrossRanker(c);
  if (start.pretrained && c.use_text) {
    nn::copy_encoder(*start.pretrained, net_->encoder());
    log_("fit: encoder initialised from the pre-trained one in " + o_.init);
  }
  if (c.use_text) {
    docs_ = rank::tokenize_rank_docs(ds_.corpus, *tokenizer_, static_cast<std::size_t>(c.encoder.max_len));
    for (const auto& q : ds_.queries)
      queries_.push_back(rank::rank_query_tokens(q.text, *tokenizer_, static_cast<std::size_t>(c.encoder.max_len)));
  }
  optimizer_ = std::make_unique<torch::optim::AdamW>(net_->parameters(), torch::optim::AdamWOptions(o_.lr).weight_decay(0.01));
  std::int64_t params = 0;
  for (const auto& p : net_->parameters()) params += p.numel();
  log_("fit: ranker " + o_.preset + (c.use_text ? " text" : "") + (c.use_features ? " + features" : "") + ", " +
       std::to_string(params) + " parameters");
}

std::pair<std::vector<std::vector<std::int64_t>>, torch::Tensor> RankTrainer::inputs(
    const std::vector<std::uint32_t>& queries, const std::vector<std::uint32_t>& rows, const std::vector<float>& feats) {
  const auto n = static_cast<std::int64_t>(rows.size());
  std::vector<std::vector<std::int64_t>> seqs;
  if (config_.use_text)
    for (std::size_t i = 0; i < rows.size(); ++i)
      seqs.push_back(rank::pair_tokens(queries_[queries[i]], docs_.title[rows[i]], docs_.body[rows[i]],
                                       static_cast<std::size_t>(config_.encoder.max_len)));
  torch::Tensor f;
  if (config_.use_features)
    f = torch::from_blob(const_cast<float*>(feats.data()), {n, static_cast<std::int64_t>(kF)}, torch::kFloat).clone();
  return {std::move(seqs), f};
}

// Logits of (query, row) pairs with their feature vectors (n x kF).
torch::Tensor RankTrainer::forward(const std::vector<std::uint32_t>& queries, const std::vector<std::uint32_t>& rows,
                      const std::vector<float>& feats) {
  auto [seqs, f] = inputs(queries, rows, feats);
  nn::TokenBatch tb;
  if (config_.use_text) {
    std::vector<std::uint32_t> idx(rows.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<std::uint32_t>(i);
    tb = nn::make_token_batch(seqs, idx);
  }
  return net_->forward(tb, f);
}

}  // namespace funnel::train
