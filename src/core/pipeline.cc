#include "funnel/pipeline.h"

#include <algorithm>
#include <chrono>

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
};

namespace {

// Throws funnel::Error naming the request field that is wrong.
void check_request(const Request& request, const std::vector<std::string>& stage_names) {
  if (request.query.find_first_not_of(" \t\r\n") == std::string::npos) throw Error("request: field 'query': empty");
  if (request.k == 0) throw Error("request: field 'k': expected an integer >= 1");
  if (auto bad = detail::find_invalid_utf8(request.query); bad != detail::kValidUtf8)
    throw Error("request: field 'query': invalid UTF-8 at byte " + std::to_string(bad + 1));
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
  detail::check_keys(config, {"stages"}, where);
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
    step->stage = factory(s, *index_, sw);
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

void Pipeline::run_steps(const Request& request, std::size_t from, std::size_t to, std::vector<Candidate>& cands,
                         Response& resp) const {
  static const json kEmpty = json::object();
  for (std::size_t i = from; i < to; ++i) {
    const Step& step = *steps_[i];
    StageTrace tr;
    tr.name = step.name;
    tr.type = step.type;
    tr.in = cands.size();
    auto it = request.overrides.find(step.name);
    StageContext ctx{*index_, request, it != request.overrides.end() ? *it : kEmpty, step.name, &tr.notes};
    const auto t0 = Clock::now();
    try {
      step.stage->run(ctx, cands);
    } catch (const std::exception& e) {
      // Whatever a stage or a library under it throws ends this request
      // only, as a funnel::Error that says which query and stage.
      throw Error("query " + detail::quote_for_error(request.query) + ": stage '" + step.name + "': " + e.what());
    }
    tr.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
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
  }
}

Response Pipeline::run(const Request& request) const {
  check_request(request, stage_names());
  Response resp;
  std::vector<Candidate> cands;
  const auto t_all = Clock::now();
  run_steps(request, 0, steps_.size(), cands, resp);
  resp.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_all).count();
  return finish(request, cands, std::move(resp));
}

std::vector<Candidate> Pipeline::run_prefix(const Request& request, std::size_t stages) const {
  check_request(request, stage_names());
  if (stages > steps_.size())
    throw Error("run_prefix: the cascade has " + std::to_string(steps_.size()) + " stages, not " + std::to_string(stages));
  Response resp;
  std::vector<Candidate> cands;
  run_steps(request, 0, stages, cands, resp);
  return cands;
}

Response Pipeline::run_from(const Request& request, std::size_t from, std::vector<Candidate> cands) const {
  check_request(request, stage_names());
  if (from > steps_.size())
    throw Error("run_from: the cascade has " + std::to_string(steps_.size()) + " stages, not " + std::to_string(from));
  Response resp;
  for (std::size_t i = 0; i < from; ++i) resp.trace.push_back(StageTrace{steps_[i]->name, steps_[i]->type});
  const auto t_all = Clock::now();
  run_steps(request, from, steps_.size(), cands, resp);
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
