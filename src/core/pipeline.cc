#include "funnel/pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/config_util.h"
#include "core/registry.h"
#include "funnel/error.h"
#include "util/utf8.h"

namespace funnel {
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Pipeline::Step {
  std::string name, type;
  std::unique_ptr<Stage> stage;
  bool optional = false;   // config "optional": may be skipped
  double deadline_ms = 0;  // optional stages: must end by then, from the request's start (0: none)
  // A running mean of the stage's wall time (ms), what a skip decision
  // expects the stage to cost. Updated by every run, without a lock: a lost
  // update only delays the estimate by one sample.
  mutable std::atomic<double> expected_ms{0};
};

namespace {

// Throws funnel::Error naming the request field that is wrong.
void check_request(const Request& request, const std::vector<std::string>& stage_names) {
  // A feed request has a user and no query; anything else needs a query.
  const bool blank = request.query.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank && (request.user_id.empty() || !request.query.empty()))
    throw Error(request.user_id.empty() ? "request: field 'query': empty (a request needs a query, or a user_id for a feed)"
                                        : "request: field 'query': empty");
  if (request.k == 0) throw Error("request: field 'k': expected an integer >= 1");
  if (auto bad = detail::find_invalid_utf8(request.query); bad != detail::kValidUtf8)
    throw Error("request: field 'query': invalid UTF-8 at byte " + std::to_string(bad + 1));
  if (!(request.deadline_ms >= 0) || !std::isfinite(request.deadline_ms))
    throw Error("request: field 'deadline_ms': expected a finite number >= 0");
  if (!request.overrides.is_object()) throw Error("request: field 'overrides': expected an object");
  for (auto it = request.overrides.begin(); it != request.overrides.end(); ++it) {
    if (std::find(stage_names.begin(), stage_names.end(), it.key()) == stage_names.end())
      throw Error("request: field 'overrides': no stage named '" + it.key() + "'");
    if (!it.value().is_object()) throw Error("request: field 'overrides." + it.key() + "': expected an object");
  }
}

}  // namespace

Pipeline::Pipeline(std::shared_ptr<const Index> index, const json& config, const std::string& where)
    : index_(std::move(index)) {
  if (!index_) throw Error(where + ": no index");
  detail::check_keys(config, {"stages", "deadline_ms"}, where);
  deadline_ms_ = detail::get_weight(config, "deadline_ms", where, 0);
  if (!config.contains("stages") || !config["stages"].is_array() || config["stages"].empty())
    throw Error(where + ": field 'stages': expected a non-empty list");
  const json& stages = config["stages"];
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const std::string sw = where + ": stages[" + std::to_string(i) + "]";
    const json& s = stages[i];
    if (!s.is_object()) throw Error(sw + ": expected an object");
    auto step = std::make_unique<Step>();
    step->type = detail::get_string(s, "type", sw);
    step->name = s.contains("name") ? detail::get_string(s, "name", sw) : step->type;
    for (const auto& other : steps_)
      if (other->name == step->name) throw Error(sw + ": field 'name': duplicate stage name '" + step->name + "'");
    StageFactory factory = detail::find_stage_type(step->type);
    if (!factory) {
      std::string known;
      for (auto& t : funnel::stage_types()) known += (known.empty() ? "" : ", ") + t;
      throw Error(sw + ": field 'type': unknown stage type '" + step->type + "' (known: " + known + ")");
    }
    if (i == 0 && step->type != "recall") throw Error(sw + ": the first stage must be of type 'recall'");
    if (i > 0 && step->type == "recall")
      throw Error(sw + ": only the first stage may be of type 'recall' (list several channels in it instead)");
    // "optional" and "deadline_ms" are the pipeline's; the stage gets the rest.
    json own = s;
    if (s.contains("optional")) {
      if (!s["optional"].is_boolean()) throw Error(sw + ": field 'optional': expected true or false");
      step->optional = s["optional"].get<bool>();
      own.erase("optional");
    }
    if (s.contains("deadline_ms")) {
      if (!step->optional)
        throw Error(sw + ": field 'deadline_ms': only an optional stage (\"optional\": true) has a deadline; the "
                         "request's total is the cascade's \"deadline_ms\"");
      step->deadline_ms = detail::get_weight(s, "deadline_ms", sw, 0);
      own.erase("deadline_ms");
    }
    if (i == 0 && step->optional) throw Error(sw + ": field 'optional': the recall stage cannot be optional");
    step->stage = factory(own, *index_, sw);
    steps_.push_back(std::move(step));
  }
}

Pipeline::~Pipeline() = default;

std::vector<std::string> Pipeline::stage_names() const {
  std::vector<std::string> out;
  for (const auto& s : steps_) out.push_back(s->name);
  return out;
}

std::vector<std::string> Pipeline::stage_types() const {
  std::vector<std::string> out;
  for (const auto& s : steps_) out.push_back(s->type);
  return out;
}

bool Pipeline::stage_optional(std::size_t stage) const {
  if (stage >= steps_.size()) throw Error("pipeline: no stage " + std::to_string(stage));
  return steps_[stage]->optional;
}

bool Pipeline::stage_scores(std::size_t stage) const {
  if (stage >= steps_.size()) throw Error("pipeline: no stage " + std::to_string(stage));
  return steps_[stage]->stage->scores();
}

StageRole Pipeline::stage_role(std::size_t stage) const {
  if (stage >= steps_.size()) throw Error("pipeline: no stage " + std::to_string(stage));
  return steps_[stage]->stage->role();
}

json Pipeline::stage_info(std::size_t stage) const {
  if (stage >= steps_.size()) throw Error("pipeline: no stage " + std::to_string(stage));
  return steps_[stage]->stage->info();
}

std::vector<Candidate> Pipeline::score_candidates(std::size_t stage, const Request& request,
                                                  const std::vector<std::uint32_t>& rows) const {
  if (!stage_scores(stage)) throw Error("score_rows: stage '" + steps_[stage]->name + "' does not score candidates");
  static const json kEmpty = json::object();
  auto it = request.overrides.find(steps_[stage]->name);
  StageContext ctx{*index_, request, it != request.overrides.end() ? *it : kEmpty, steps_[stage]->name};
  std::vector<Candidate> cands(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) cands[i].row = rows[i];
  steps_[stage]->stage->score(ctx, cands);
  return cands;
}

std::vector<double> Pipeline::score_rows(std::size_t stage, const std::string& query,
                                         const std::vector<std::uint32_t>& rows) const {
  Request req;
  req.query = query;
  req.k = std::max<std::size_t>(1, rows.size());
  const std::vector<Candidate> cands = score_candidates(stage, req, rows);
  std::vector<double> out(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) out[i] = cands[i].score;
  return out;
}

namespace {
std::string ms_text(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f ms", ms);
  return buf;
}
}  // namespace

bool Pipeline::skip_step(const Request& request, std::size_t i, double elapsed_ms, std::string& why) const {
  const Step& step = *steps_[i];
  auto it = request.overrides.find(step.name);
  if (it != request.overrides.end() && it->contains("skip")) {
    const json& v = (*it)["skip"];
    if (!v.is_boolean()) throw Error("request: overrides." + step.name + ".skip: expected true or false");
    if (!step.optional) throw Error("request: overrides." + step.name + ".skip: stage '" + step.name + "' is not optional");
    if (v.get<bool>()) {
      why = "skipped: the request asked for it";
      return true;
    }
  }
  if (!step.optional) return false;
  const double expect = step.expected_ms.load(std::memory_order_relaxed);
  const double total = request.deadline_ms > 0 ? request.deadline_ms : deadline_ms_;
  const std::pair<double, const char*> limits[] = {{step.deadline_ms, "the stage's deadline"},
                                                   {total, "the request's deadline"}};
  for (const auto& [limit, what] : limits) {
    if (limit <= 0) continue;  // none
    if (elapsed_ms + expect > limit) {
      // A skipped stage is never timed again: let its estimate decay, so
      // that one slow run does not keep it off for good.
      if (elapsed_ms <= limit) step.expected_ms.store(0.95 * expect, std::memory_order_relaxed);
      why = "skipped: at " + ms_text(elapsed_ms) + " with about " + ms_text(expect) + " to run, it would end past " +
            what + " of " + ms_text(limit);
      return true;
    }
  }
  return false;
}

void Pipeline::run_steps(const Request& request, std::size_t from, std::size_t to, std::vector<Candidate>& cands,
                         Response& resp, Clock::time_point t_start) const {
  static const json kEmpty = json::object();
  const double total = request.deadline_ms > 0 ? request.deadline_ms : deadline_ms_;
  for (std::size_t i = from; i < to; ++i) {
    const Step& step = *steps_[i];
    StageTrace tr;
    tr.name = step.name;
    tr.type = step.type;
    tr.in = cands.size();
    const auto t0 = Clock::now();
    std::string why;
    if (skip_step(request, i, std::chrono::duration<double, std::milli>(t0 - t_start).count(), why)) {
      tr.skipped = true;
      tr.out = cands.size();
      tr.notes.push_back(std::move(why));
      resp.trace.push_back(std::move(tr));
      continue;
    }
    auto it = request.overrides.find(step.name);
    const json* slice = it != request.overrides.end() ? &*it : &kEmpty;
    json without_skip;
    if (slice->contains("skip")) {  // the pipeline's key, not the stage's
      without_skip = *slice;
      without_skip.erase("skip");
      slice = &without_skip;
    }
    StageContext ctx{*index_, request, *slice, step.name, &tr.notes};
    try {
      step.stage->run(ctx, cands);
    } catch (const Error& e) {
      // Whatever a stage or a library under it throws ends this request
      // only, as a funnel::Error that says which query and stage.
      throw Error("query " + detail::quote_for_error(request.query) + ": stage '" + step.name + "': " + e.what());
    } catch (const std::exception& e) {
      throw StageFailure("query " + detail::quote_for_error(request.query) + ": stage '" + step.name + "': " + e.what());
    }
    const auto t1 = Clock::now();
    tr.ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    const double prev = step.expected_ms.load(std::memory_order_relaxed);
    step.expected_ms.store(prev == 0 ? tr.ms : 0.9 * prev + 0.1 * tr.ms, std::memory_order_relaxed);
    tr.out = cands.size();
    for (std::size_t r = 0; r < cands.size(); ++r)
      cands[r].marks.push_back({static_cast<std::uint32_t>(i), cands[r].score, static_cast<std::uint32_t>(r + 1)});
    if (request.trace_survivors) {
      tr.survivors.reserve(cands.size());
      tr.survivor_scores.reserve(cands.size());
      for (const auto& c : cands) {
        tr.survivors.push_back(c.row);
        tr.survivor_scores.push_back(c.score);
      }
    }
    resp.trace.push_back(std::move(tr));
    const double elapsed = std::chrono::duration<double, std::milli>(t1 - t_start).count();
    if (total > 0 && elapsed > total && i + 1 < to)
      throw DeadlineExceeded("request: past its deadline of " + ms_text(total) + " after stage '" + step.name +
                             "' (" + ms_text(elapsed) + " spent; " + std::to_string(to - i - 1) +
                             " stage(s) not run)");
  }
}

Response Pipeline::run(const Request& request) const {
  check_request(request, stage_names());
  Response resp;
  std::vector<Candidate> cands;
  const auto t_all = Clock::now();
  run_steps(request, 0, steps_.size(), cands, resp, t_all);
  resp.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_all).count();
  return finish(request, cands, std::move(resp));
}

std::vector<Candidate> Pipeline::run_prefix(const Request& request, std::size_t stages) const {
  check_request(request, stage_names());
  if (stages > steps_.size())
    throw Error("run_prefix: the cascade has " + std::to_string(steps_.size()) + " stages, not " + std::to_string(stages));
  Response resp;
  std::vector<Candidate> cands;
  run_steps(request, 0, stages, cands, resp, Clock::now());
  return cands;
}

Response Pipeline::run_from(const Request& request, std::size_t from, std::vector<Candidate> cands) const {
  check_request(request, stage_names());
  if (from > steps_.size())
    throw Error("run_from: the cascade has " + std::to_string(steps_.size()) + " stages, not " + std::to_string(from));
  Response resp;
  for (std::size_t i = 0; i < from; ++i) {
    StageTrace tr;
    tr.name = steps_[i]->name;
    tr.type = steps_[i]->type;
    resp.trace.push_back(std::move(tr));
  }
  const auto t_all = Clock::now();
  run_steps(request, from, steps_.size(), cands, resp, t_all);
  resp.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_all).count();
  return finish(request, cands, std::move(resp));
}

Response Pipeline::finish(const Request& request, std::vector<Candidate>& cands, Response resp) const {
  const std::size_t n = std::min(request.k, cands.size());
  resp.items.reserve(n);
  for (std::size_t r = 0; r < n; ++r) {
    Candidate& c = cands[r];
    ResultItem item;
    item.row = c.row;
    item.doc_id = index_->doc_id(c.row);
    item.title = index_->title(c.row);
    item.score = c.score;
    for (std::uint32_t b = 0; b < 32; ++b)
      if (c.channels & (1u << b)) item.channels.push_back(channel_name_of_bit(b));
    item.marks = std::move(c.marks);
    if (c.pxtr_names)
      for (std::size_t t = 0; t < c.pxtr.size() && t < c.pxtr_names->size(); ++t)
        item.pxtr.emplace_back((*c.pxtr_names)[t], c.pxtr[t]);
    resp.items.push_back(std::move(item));
  }
  return resp;
}

}  // namespace funnel
