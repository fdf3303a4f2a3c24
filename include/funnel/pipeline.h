// The online cascade: a request flows through the configured stages
// (recall -> ... -> truncation), each narrowing the candidate list, and comes
// back as a response with a per-stage trace.
//
// Stages are chosen by `type` name from a JSON cascade config
// (docs/formats.md, "Cascade config"); new stage types register a factory and
// need no change here.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/index.h"

namespace funnel {

// One search request.
struct Request {
  std::string query;    // the user's query text (UTF-8)
  std::string user_id;  // optional; "" for anonymous
  std::size_t k = 10;   // results wanted
  // Per-request overrides of stage parameters, keyed by stage name, e.g.
  // {"truncate": {"keep": 50}, "recall": {"quota": {"bm25": 200}}}. A stage
  // name that is not in the cascade is an error.
  nlohmann::json overrides = nlohmann::json::object();
  // Fill StageTrace::survivors (the rows kept by each stage); costs memory.
  bool trace_survivors = false;
};

// Score and 1-based rank that an item had when it left one stage.
struct StageMark {
  std::uint32_t stage;  // index into Response::trace
  double score;
  std::uint32_t rank;
};

// A doc moving through the cascade.
// One recall channel's own score for a candidate it found.
struct ChannelScore {
  std::uint32_t bit = 0;  // channel_bit(channel name)
  float score = 0;        // the channel's score (BM25 weight, ANN similarity)
};

struct Candidate {
  static constexpr std::size_t kMaxChannelScores = 4;
  std::uint32_t row = 0;        // corpus row
  double score = 0;             // score given by the last stage that scored it
  std::uint32_t channels = 0;   // bit i set: found by the channel channel_name_of_bit(i)
  // The scores of up to kMaxChannelScores channels that found it, kept for later stages that use recall scores as features.
  std::array<ChannelScore, kMaxChannelScores> channel_scores{};
  std::uint8_t n_channel_scores = 0;
  std::vector<StageMark> marks; // one per stage passed, in order
  // Predicted rates (pXtr) of the ranker's heads, set by the rank stage:
  // pxtr[i] belongs to (*pxtr_names)[i]. Empty before a rank stage.
  std::shared_ptr<const std::vector<std::string>> pxtr_names;
  std::vector<float> pxtr;

  // The score channel `bit` gave this candidate; false if none is recorded.
  bool channel_score(std::uint32_t bit, float& out) const {
    for (std::size_t i = 0; i < n_channel_scores; ++i)
      if (channel_scores[i].bit == bit) {
        out = channel_scores[i].score;
        return true;
      }
    return false;
  }
};

// What one stage did for one request.
struct StageTrace {
  std::string name;              // stage name from the config
  std::string type;              // stage type ("recall", "truncate", ...)
  std::size_t in = 0, out = 0;   // candidates received and kept
  double ms = 0;                 // wall time spent in the stage
  std::vector<std::uint32_t> survivors;  // rows kept, only if Request::trace_survivors
  std::vector<double> survivor_scores;   // the scores the stage gave them (same order), with survivors
};

struct ResultItem {
  std::string doc_id;
  std::string title;
  std::uint32_t row = 0;
  double score = 0;                   // final score
  std::vector<std::string> channels;  // recall channels that found it
  std::vector<StageMark> marks;       // score and rank at every stage passed
  // The rank stage's predictions (name, value): the relevance head's logit
  // and the probability of each logged action (click, watch, ...). Empty
  // when the cascade has no rank stage.
  std::vector<std::pair<std::string, double>> pxtr;
};

struct Response {
  std::vector<ResultItem> items;  // best first, at most Request::k
  std::vector<StageTrace> trace;  // one per stage, in cascade order
  double total_ms = 0;
};

// Per-request state handed to stages.
struct StageContext {
  const Index& index;
  const Request& request;
  const nlohmann::json& overrides;  // this stage's slice of Request::overrides ({} if none)
};

// One step of the cascade. Implementations are immutable after construction
// and thread-safe.
class Stage {
 public:
  virtual ~Stage() = default;
  // Replaces `candidates` by the stage's output, best first, and sets each
  // kept candidate's `score`.
  virtual void run(const StageContext& ctx, std::vector<Candidate>& candidates) const = 0;
};

// Builds a stage from its config object; `where` names the config place for
// errors. Throws funnel::Error on a bad config.
using StageFactory = std::function<std::unique_ptr<Stage>(
    const nlohmann::json& config, const Index& index, const std::string& where)>;
// Registers a stage type; later registrations of the same name replace it.
void register_stage_type(const std::string& type, StageFactory factory);
std::vector<std::string> stage_types();

// Recall channels that are not part of the index files but built from them
// at pipeline construction (e.g. "ann", which needs the query tower), chosen
// by the `type` of a recall stage's channel entry.
using ChannelFactory = std::function<std::unique_ptr<RecallChannel>(
    const Index& index, const nlohmann::json& config, const std::string& where)>;
void register_channel_type(const std::string& type, ChannelFactory factory);
// A process-wide bit per channel name for Candidate::channels (at most 32).
std::uint32_t channel_bit(const std::string& name);
std::string channel_name_of_bit(std::uint32_t bit);

// The built-in cascade for an index: BM25 recall of `recall_k` docs, then
// truncation to `keep`.
nlohmann::json default_cascade(std::size_t recall_k = 1000, std::size_t keep = 1000);

// A configured cascade over an opened index. Thread-safe: run() may be
// called concurrently.
class Pipeline {
 public:
  // `config` is the cascade config; `where` names it in errors (a file path).
  Pipeline(std::shared_ptr<const Index> index, const nlohmann::json& config,
           const std::string& where = "cascade config");
  ~Pipeline();

  // Throws funnel::Error on a bad request (empty query, k == 0, unknown
  // override).
  Response run(const Request& request) const;

  const Index& index() const { return *index_; }
  std::vector<std::string> stage_names() const;
  std::vector<std::string> stage_types() const;

  // Scores `rows` with the one stage `stage` (by index) as if they were its
  // input, keeping all of them: for offline metrics of a scoring stage
  // (AUC on logged impressions). Returns one score per row, in input order.
  std::vector<double> score_rows(std::size_t stage, const std::string& query,
                                 const std::vector<std::uint32_t>& rows) const;

 private:
  struct Step;
  std::shared_ptr<const Index> index_;
  std::vector<std::unique_ptr<Step>> steps_;
};

// Reads a cascade config file (JSON). Throws funnel::Error naming the file.
nlohmann::json read_cascade_config(const std::filesystem::path& path);

}  // namespace funnel
