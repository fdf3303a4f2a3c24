// The online cascade: a request flows through the configured stages
// (recall -> pre-rank -> rank -> ... -> truncation), each narrowing the
// candidate list, and comes back as a response with a per-stage trace.
//
// Stages are chosen by `type` name from a JSON cascade config
// (docs/formats.md, "Cascade config"); stage types register a factory
// (funnel/stage.h) and need no change here. Most callers want
// funnel::Engine (funnel/engine.h), which opens the index with its models.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/candidate.h"
#include "funnel/index.h"
#include "funnel/stage.h"

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
  // The request's total deadline in ms from its start (0: the cascade's
  // "deadline_ms", if any). Past it, run() throws DeadlineExceeded after the
  // stage that overran; an optional stage that would end past it is skipped.
  double deadline_ms = 0;
};

// What one stage did for one request.
struct StageTrace {
  std::string name;              // stage name from the config
  std::string type;              // stage type ("recall", "truncate", ...)
  std::size_t in = 0, out = 0;   // candidates received and kept
  double ms = 0;                 // wall time spent in the stage
  std::vector<std::uint32_t> survivors;  // rows kept, only if Request::trace_survivors
  std::vector<double> survivor_scores;   // the scores the stage gave them (same order), with survivors
  std::vector<std::string> notes;        // what the stage wants the caller to know (e.g. a rule it could not keep)
  bool skipped = false;                  // an optional stage that did not run (its deadline, or overrides {"skip": true})
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

// The built-in cascade for an index: BM25 recall of `recall_k` docs, then
// truncation to `keep`.
nlohmann::json default_cascade(std::size_t recall_k = 1000, std::size_t keep = 1000);

// Reads a cascade config file (JSON). Throws funnel::Error naming the file.
nlohmann::json read_cascade_config(const std::filesystem::path& path);

// A configured cascade over an opened index. Thread-safe: run() and
// score_rows() may be called concurrently.
class Pipeline {
 public:
  // `config` is the cascade config; `where` names it in errors (a file
  // path). Throws funnel::Error on a bad config, naming the stage.
  Pipeline(std::shared_ptr<const Index> index, const nlohmann::json& config,
           const std::string& where = "cascade config");
  ~Pipeline();

  // Throws funnel::Error on a bad request (empty query, k == 0, invalid
  // UTF-8, an override of an unknown stage or field).
  Response run(const Request& request) const;

  // For callers that replay the end of the cascade many times on the same
  // candidates (`funnel tune`, the fusion experiment): run_prefix() runs the
  // first `stages` stages and returns the candidates leaving the last of
  // them (best first, with their marks, scores and pXtr); run_from() runs
  // stages [from, size()) on such candidates. run_from(r, f, run_prefix(r,
  // f)) gives run(r)'s items; its trace has an entry for every stage, those
  // before `from` with their name and type only (in = out = 0, ms = 0).
  std::vector<Candidate> run_prefix(const Request& request, std::size_t stages) const;
  Response run_from(const Request& request, std::size_t from, std::vector<Candidate> candidates) const;

  const Index& index() const { return *index_; }
  std::shared_ptr<const Index> index_ptr() const { return index_; }
  std::size_t size() const { return steps_.size(); }
  std::vector<std::string> stage_names() const;
  std::vector<std::string> stage_types() const;
  // Whether stage `stage` (by index) is optional (config "optional": true):
  // it may be skipped by its deadline or per request.
  bool stage_optional(std::size_t stage) const;
  // The cascade's total deadline in ms (config "deadline_ms"; 0: none).
  double deadline_ms() const { return deadline_ms_; }
  // Whether stage `stage` (by index) scores its candidates (Stage::scores).
  bool stage_scores(std::size_t stage) const;
  // The role stage `stage` declares (Stage::role).
  StageRole stage_role(std::size_t stage) const;
  // What stage `stage` runs with (Stage::info).
  nlohmann::json stage_info(std::size_t stage) const;

  // The scores stage `stage` (by index) gives `rows` for `query`, one per
  // row in input order, all rows kept (Stage::score): for offline metrics
  // of a scoring stage (AUC on logged impressions, order consistency).
  // Throws funnel::Error unless the stage scores.
  std::vector<double> score_rows(std::size_t stage, const std::string& query,
                                 const std::vector<std::uint32_t>& rows) const;
  // The same, returning the scored candidates (score and, for a rank stage,
  // pXtr) in input order; the request gives query, user and overrides.
  std::vector<Candidate> score_candidates(std::size_t stage, const Request& request,
                                          const std::vector<std::uint32_t>& rows) const;

 private:
  struct Step;
  std::shared_ptr<const Index> index_;
  std::vector<std::unique_ptr<Step>> steps_;
  double deadline_ms_ = 0;
  // Runs stages [from, to) on `cands`, appending their traces to `resp`;
  // `t_start` is when the request started (for the deadlines).
  void run_steps(const Request& request, std::size_t from, std::size_t to, std::vector<Candidate>& cands,
                 Response& resp, std::chrono::steady_clock::time_point t_start) const;
  // Whether optional step `i` must be skipped, and why (a note), given the
  // time already spent.
  bool skip_step(const Request& request, std::size_t i, double elapsed_ms, std::string& why) const;
  Response finish(const Request& request, std::vector<Candidate>& cands, Response resp) const;
};

// The response as JSON: {"query", "k", "items": [{"rank", "id", "title",
// "score", "channels", "stages": [{"stage", "score", "rank"}], "pxtr"?}],
// "trace": [{"name", "type", "in", "out", "ms", "skipped"?, "notes"?}], "total_ms"}
// (docs/formats.md, "Response"). `request` supplies query and k.
nlohmann::json response_to_json(const Response& response, const Request& request);
// The reverse, for clients: checks every field and throws funnel::Error
// naming the first bad one. ResultItem::row is not in the JSON (0).
Response response_from_json(const nlohmann::json& j);

}  // namespace funnel
