#include "funnel/train.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "funnel/data.h"
#include "funnel/error.h"
#include "nn/batching.h"
#include "nn/doc_text.h"
#include "nn/encoder_config.h"
#include "nn/module_io.h"
#include "nn/text_encoder.h"
#include "nn/tokenizer.h"
#include "train/common/log.h"
#include "train/common/torch_threads.h"
#include "util/fs.h"
#include "util/rng.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;
using nn::TokenBatch;
using nn::Tokenizer;

namespace {

// A masked batch: inputs with hidden tokens, and the ids to predict at the
// hidden positions (-100 elsewhere, ignored by the loss).
struct Masked {
  TokenBatch input;
  torch::Tensor target;
};

Masked mask_batch(const std::vector<std::vector<std::int64_t>>& tokens, const std::vector<std::uint32_t>& rows,
                  double rate, std::int64_t vocab, detail::Rng& rng) {
  Masked m;
  m.input = nn::make_token_batch(tokens, rows);
  m.target = torch::full_like(m.input.ids, -100);
  auto ids = m.input.ids.accessor<std::int64_t, 2>();
  auto pad = m.input.pad.accessor<bool, 2>();
  auto tgt = m.target.accessor<std::int64_t, 2>();
  for (std::int64_t b = 0; b < ids.size(0); ++b) {
    bool any = false;
    std::int64_t last = -1;
    for (std::int64_t k = 1; k < ids.size(1); ++k) {  // never the [CLS] at 0
      if (pad[b][k]) break;
      last = k;
      if (static_cast<double>(rng.below(1u << 20)) / static_cast<double>(1u << 20) >= rate) continue;
      any = true;
      tgt[b][k] = ids[b][k];
      const auto r = rng.below(10);
      if (r < 8) ids[b][k] = Tokenizer::kPad;  // <unk> as [MASK], not marked as padding
      else if (r == 8) ids[b][k] = 3 + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(vocab - 3)));
    }
    if (!any && last > 0) {  // at least one prediction per text
      tgt[b][last] = ids[b][last];
      ids[b][last] = Tokenizer::kPad;
    }
  }
  return m;
}

// The encoder and its output layer, trained together.
struct Mlm {
  nn::TextEncoder enc;
  torch::nn::Linear head;
  std::vector<torch::Tensor> params;
  Mlm(const nn::EncoderConfig& c) : enc(c), head(c.hidden, c.vocab_size) {
    params = enc->parameters();
    for (auto& p : head->parameters()) params.push_back(p);
  }
};

// Share of masked tokens of `held` that `predict` (input batch -> predicted
// ids, same shape) gets right, with the same masks every time (drawn from
// `seed`), so that two predictors are compared on the same questions.
template <class Predict>
double held_out_accuracy(const std::vector<std::vector<std::int64_t>>& tokens, const std::vector<std::uint32_t>& held,
                         double rate, std::int64_t vocab, std::uint64_t seed, Predict&& predict) {
  torch::NoGradGuard no_grad;
  detail::Rng rng(seed);
  std::int64_t right = 0, all = 0;
  for (std::size_t s = 0; s < held.size(); s += 128) {
    std::vector<std::uint32_t> rows(held.begin() + static_cast<std::ptrdiff_t>(s),
                                    held.begin() + static_cast<std::ptrdiff_t>(std::min(held.size(), s + 128)));
    auto b = mask_batch(tokens, rows, rate, vocab, rng);
    auto sel = b.target.ne(-100);
    right += predict(b.input).eq(b.target).logical_and(sel).sum().template item<std::int64_t>();
    all += sel.sum().template item<std::int64_t>();
  }
  return all ? static_cast<double>(right) / static_cast<double>(all) : std::nan("");
}

// The model's held-out masked accuracy.
double masked_accuracy(Mlm& m, const std::vector<std::vector<std::int64_t>>& tokens, const std::vector<std::uint32_t>& held,
                       double rate, std::int64_t vocab, std::uint64_t seed) {
  m.enc->eval();
  const double acc = held_out_accuracy(tokens, held, rate, vocab, seed,
                                       [&](const nn::TokenBatch& in) { return m.head(m.enc->states(in)).argmax(2); });
  m.enc->train();
  return acc;
}

// The same masks of `held` answered by the most frequent token of the
// training rows: what a model that learnt only token frequencies scores.
double most_frequent_token_accuracy(const std::vector<std::vector<std::int64_t>>& tokens,
                                    const std::vector<std::uint32_t>& train, const std::vector<std::uint32_t>& held,
                                    double rate, std::int64_t vocab, std::uint64_t seed) {
  std::vector<std::int64_t> count(static_cast<std::size_t>(vocab), 0);
  for (auto r : train)
    for (std::size_t k = 1; k < tokens[r].size(); ++k) ++count[static_cast<std::size_t>(tokens[r][k])];
  const auto top = static_cast<std::int64_t>(std::max_element(count.begin(), count.end()) - count.begin());
  return held_out_accuracy(tokens, held, rate, vocab, seed,
                           [&](const nn::TokenBatch& in) { return torch::full_like(in.ids, top); });
}

// One epoch of masked-token prediction; returns the mean loss.
double mlm_epoch(Mlm& m, torch::optim::AdamW& opt, const std::vector<std::vector<std::int64_t>>& tokens,
                 const std::vector<std::uint32_t>& train, const PretrainOptions& o, std::int64_t vocab, int epoch,
                 std::size_t steps, const LogFn& log) {
  detail::Rng rng(o.seed * 1000003ull + static_cast<std::uint64_t>(epoch) + 191);
  torch::manual_seed(o.seed * 1000003ull + static_cast<std::uint64_t>(epoch) + 191);
  std::vector<std::uint32_t> order = train;
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  const std::size_t B = static_cast<std::size_t>(o.batch);
  double total = 0;
  StepLog progress(log, epoch, steps, static_cast<double>(B), "texts");
  for (std::size_t step = 0; step < steps; ++step) {
    std::vector<std::uint32_t> rows;
    for (std::size_t b = 0; b < B; ++b) rows.push_back(order[(step * B + b) % order.size()]);
    auto batch = mask_batch(tokens, rows, o.mask_rate, vocab, rng);
    auto logits = m.head(m.enc->states(batch.input));
    auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, vocab}), batch.target.reshape({-1}),
                                                     torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
    opt.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(m.params, 1.0);
    opt.step();
    total += loss.item<double>();
    progress.step(step, total);
  }
  return total / static_cast<double>(steps);
}

void validate(const PretrainOptions& o) {
  if (!(o.mask_rate > 0 && o.mask_rate < 1)) throw Error("fit: --mask-rate must be in (0, 1)");
  if (o.epochs < 1) throw Error("fit: --epochs must be >= 1");
  if (o.batch < 1) throw Error("fit: --batch must be >= 1");
  if (!(o.lr > 0)) throw Error("fit: --lr must be > 0");
  if (o.max_len < 8 || o.max_len > 512) throw Error("fit: --max-len must be in 8..512");
}

}  // namespace

PretrainResult pretrain_encoder(const fs::path& data, const fs::path& out, const PretrainOptions& o, const LogFn& logf) {
  const LogFn log = logf ? logf : [](const std::string&) {};
  validate(o);
  nn::EncoderConfig c = nn::encoder_preset(o.preset);
  c.max_len = o.max_len;
  torch::manual_seed(o.seed);
  init_torch_threads(o.threads);
  const fs::path dir = out / "pretrain";
  fs::create_directories(dir);
  log("fit: reading " + data.string());
  Corpus corpus = read_corpus(data / "corpus.jsonl");
  if (corpus.docs.size() < 2) throw Error((data / "corpus.jsonl").string() + ": pre-training needs at least 2 docs");
  std::vector<std::string> text;
  for (const auto& d : corpus.docs) text.push_back(nn::doc_text(d));
  log("fit: training the tokenizer (vocab " + std::to_string(c.vocab_size) + ")");
  Tokenizer::train(text, dir / "tokenizer", c.vocab_size, o.seed);
  Tokenizer tok(dir / "tokenizer.model");
  c.vocab_size = tok.vocab_size();
  std::vector<std::vector<std::int64_t>> tokens;
  for (const auto& t : text) tokens.push_back(tok.encode(t, static_cast<std::size_t>(c.max_len)));
  // Every 20th doc is held out to measure masked-token accuracy.
  std::vector<std::uint32_t> train_rows, held;
  for (std::uint32_t r = 0; r < tokens.size(); ++r) (r % 20 == 19 ? held : train_rows).push_back(r);
  if (held.size() > 512) held.resize(512);

  Mlm m(c);
  torch::optim::AdamW opt(m.params, torch::optim::AdamWOptions(o.lr).weight_decay(0.01));
  std::int64_t n_params = 0;
  for (auto& p : m.params) n_params += p.numel();
  log("fit: pre-training a " + o.preset + " encoder (" + std::to_string(n_params) +
      " parameters with the output layer), mask rate " + fmt("%.2f", o.mask_rate));
  const std::uint64_t mask_seed = o.seed * 31 + 5;  // the same held-out masks every time
  PretrainResult res;
  res.model_dir = dir;
  res.untrained_masked_accuracy = masked_accuracy(m, tokens, held, o.mask_rate, c.vocab_size, mask_seed);
  res.baseline_masked_accuracy = most_frequent_token_accuracy(tokens, train_rows, held, o.mask_rate, c.vocab_size, mask_seed);
  std::ofstream(dir / "train_log.jsonl", std::ios::trunc);
  const std::size_t steps = o.steps_per_epoch > 0 ? static_cast<std::size_t>(o.steps_per_epoch)
                                                  : std::max<std::size_t>(1, train_rows.size() / static_cast<std::size_t>(o.batch));
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    res.epoch_loss.push_back(mlm_epoch(m, opt, tokens, train_rows, o, c.vocab_size, epoch, steps, log));
    append_json_line(dir / "train_log.jsonl", {{"epoch", epoch}, {"loss", res.epoch_loss.back()}});
  }
  res.masked_accuracy = masked_accuracy(m, tokens, held, o.mask_rate, c.vocab_size, mask_seed);
  append_json_line(dir / "train_log.jsonl", {{"masked_accuracy", res.masked_accuracy},
                                             {"untrained_masked_accuracy", res.untrained_masked_accuracy},
                                             {"most_frequent_token_accuracy", res.baseline_masked_accuracy}});
  nn::save_module(m.enc, dir / "encoder.pt");
  detail::AtomicFile f(dir / "config.json");
  f.stream() << json{{"preset", o.preset}, {"encoder", nn::encoder_to_json(c)}, {"mask_rate", o.mask_rate},
                     {"masked_accuracy", res.masked_accuracy}}.dump(2)
             << '\n';
  f.commit();
  log("fit: masked-token accuracy on held-out docs " + fmt("%.4f", res.masked_accuracy) + " (untrained " +
      fmt("%.4f", res.untrained_masked_accuracy) + ", the most frequent token " + fmt("%.4f", res.baseline_masked_accuracy) +
      ")");
  return res;
}

}  // namespace funnel::train
