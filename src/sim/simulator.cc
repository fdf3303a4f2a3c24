#include "funnel/simulator.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "funnel/data.h"
#include "funnel/error.h"
#include "gen/user_model.h"
#include "util/hash.h"
#include "util/rng.h"

namespace funnel {
namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string>& sim_objectives() {
  static const std::vector<std::string> k = {"click", "watch", "finish", "like", "share", "follow"};
  return k;
}

namespace {

// The member of `o` called `name`, or nullptr.
template <class O>
auto* member(O& o, std::string_view name) {
  if (name == "click") return &o.click;
  if (name == "watch") return &o.watch;
  if (name == "finish") return &o.finish;
  if (name == "like") return &o.like;
  if (name == "share") return &o.share;
  if (name == "follow") return &o.follow;
  return static_cast<decltype(&o.click)>(nullptr);
}

std::string known_objectives() {
  std::string s;
  for (const auto& o : sim_objectives()) s += (s.empty() ? "" : ", ") + o;
  return s;
}

}  // namespace

double SimOutcome::total(std::string_view objective) const {
  const double* m = member(*this, objective);
  if (!m) throw Error("unknown objective '" + std::string(objective) + "' (known: " + known_objectives() + ")");
  return *m;
}

double SimOutcome::per_request(std::string_view objective) const {
  return requests ? total(objective) / static_cast<double>(requests) : 0.0;
}

SimOutcome& SimOutcome::operator+=(const SimOutcome& o) {
  requests += o.requests;
  for (const auto& name : sim_objectives()) *member(*this, name) += *member(o, name);
  return *this;
}

BucketUnit parse_bucket_unit(const std::string& s, const std::string& where) {
  if (s == "user") return BucketUnit::kUser;
  if (s == "request") return BucketUnit::kRequest;
  throw Error(where + ": expected 'user' or 'request', got '" + s + "'");
}

Simulator::Simulator(std::shared_ptr<const World> world) : world_(std::move(world)) {
  if (!world_) throw Error("simulator: no world");
  const World& w = *world_;
  if (w.user_truth.empty() || w.query_topic.size() != w.queries.size() || w.doc_truth.size() != w.corpus.docs.size())
    throw Error("simulator: the world has no user model (generate it with make_world)");
  std::unordered_map<std::string, std::uint32_t> row_of;
  row_of.reserve(w.corpus.docs.size());
  for (std::size_t r = 0; r < w.corpus.docs.size(); ++r) row_of.emplace(w.corpus.docs[r].id, static_cast<std::uint32_t>(r));
  for (std::size_t q = 0; q < w.queries.size(); ++q) {
    auto it = w.qrels.find(w.queries[q].id);
    if (it == w.qrels.end()) continue;
    for (const auto& [doc, g] : it->second)
      if (auto r = row_of.find(doc); r != row_of.end()) grades_[(std::uint64_t{q} << 32) | r->second] = g;
  }
  double acc = 0;
  for (const auto& u : w.user_truth) user_cdf_.push_back(acc += u.activity);
}

int Simulator::grade(std::uint32_t query, std::uint32_t row) const {
  auto it = grades_.find((std::uint64_t{query} << 32) | row);
  return it == grades_.end() ? 0 : it->second;
}

std::vector<SimRequest> Simulator::traffic(const TrafficOptions& o) const {
  const World& w = *world_;
  if (o.buckets == 0) throw Error("traffic: buckets must be >= 1");
  std::vector<std::uint32_t> split;
  std::vector<std::vector<std::uint32_t>> of_topic(w.topic_names.size());
  for (std::size_t q = 0; q < w.queries.size(); ++q)
    if (w.query_truth[q].split == o.split) {
      split.push_back(static_cast<std::uint32_t>(q));
      of_topic.at(static_cast<std::size_t>(w.query_topic[q])).push_back(static_cast<std::uint32_t>(q));
    }
  if (split.empty()) throw Error("traffic: the world has no queries in split '" + o.split + "'");
  detail::Rng rng(o.seed * 0x9E3779B97F4A7C15ull + 17);
  std::vector<SimRequest> out(o.requests);
  for (std::size_t i = 0; i < o.requests; ++i) {
    SimRequest& r = out[i];
    r.user = static_cast<std::uint32_t>(rng.pick_cdf(user_cdf_));
    const WorldUserTruth& u = w.user_truth[r.user];
    int topic = -1;
    if (rng.chance(0.7)) {
      double x = rng.uniform();
      for (auto& [t, wt] : u.interests) {
        topic = t;
        if ((x -= wt) < 0) break;
      }
    }
    const auto& pool = topic >= 0 && !of_topic[static_cast<std::size_t>(topic)].empty()
                           ? of_topic[static_cast<std::size_t>(topic)] : split;
    r.query = pool[rng.below(pool.size())];
    r.noise = rng.next();
    r.bucket = static_cast<std::uint32_t>(
        o.unit == BucketUnit::kRequest
            ? i % o.buckets
            : detail::stable_hash(std::to_string(r.user) + "/" + std::to_string(o.seed)) % o.buckets);
  }
  return out;
}

SimOutcome Simulator::feedback(const SimRequest& request, std::span<const std::uint32_t> rows) const {
  const World& w = *world_;
  if (request.user >= w.user_truth.size() || request.query >= w.queries.size())
    throw Error("simulator: request names user " + std::to_string(request.user) + " / query " +
                std::to_string(request.query) + " outside the world");
  detail::Rng rng(request.noise);
  SimOutcome out;
  out.requests = 1;
  const std::size_t n = std::min(rows.size(), page_size());
  for (std::size_t pos = 0; pos < n; ++pos) {
    const std::uint32_t row = rows[pos];
    if (row >= w.doc_truth.size())
      throw Error("simulator: row " + std::to_string(row) + " outside the corpus (" +
                  std::to_string(w.doc_truth.size()) + " docs)");
    const bool short_video = w.corpus.docs[row].category == "short";
    const gen::UserFeedback f = gen::user_feedback(w.user_truth[request.user], w.doc_truth[row], short_video,
                                                   grade(request.query, row), static_cast<int>(pos), rng);
    out.click += f.click;
    out.watch += f.watch;
    out.finish += f.finish;
    out.like += f.like;
    out.share += f.share;
    out.follow += f.follow;
  }
  return out;
}

std::vector<SimOutcome> Simulator::serve(std::span<const SimRequest> traffic, std::size_t buckets,
                                         const SimPolicy& policy) const {
  std::vector<SimOutcome> out(buckets);
  for (const SimRequest& r : traffic) {
    if (r.bucket >= buckets)
      throw Error("simulator: request in bucket " + std::to_string(r.bucket) + " of " + std::to_string(buckets));
    out[r.bucket] += feedback(r, policy(r));
  }
  return out;
}

std::shared_ptr<const World> load_world(const fs::path& data_dir) {
  const fs::path meta = data_dir / "world.json";
  std::ifstream in(meta);
  if (!in) throw Error(meta.string() + ": not found (the simulator needs a world generated by `funnel gen`)");
  json j;
  try {
    j = json::parse(in);
  } catch (const std::exception& e) {
    throw Error(meta.string() + ": invalid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("options") || !j["options"].is_object())
    throw Error(meta.string() + ": field 'options': missing (not a world written by `funnel gen`)");
  const json& o = j["options"];
  WorldOptions opt;
  auto num = [&](const char* key, auto& field) {
    if (!o.contains(key)) return;
    if (!o[key].is_number()) throw Error(meta.string() + ": field 'options." + key + "': expected a number");
    field = o[key].get<std::remove_reference_t<decltype(field)>>();
  };
  num("docs", opt.docs); num("queries", opt.queries); num("users", opt.users); num("impressions", opt.impressions);
  num("seed", opt.seed); num("image_dim", opt.image_dim); num("page_size", opt.page_size);
  num("polysemous_share", opt.polysemous_share); num("doc_synonym_rate", opt.doc_synonym_rate);
  num("query_synonym_rate", opt.query_synonym_rate); num("vague_title_share", opt.vague_title_share);
  num("typo_rate", opt.typo_rate); num("reorder_rate", opt.reorder_rate);
  num("human_label_share", opt.human_label_share); num("label_noise", opt.label_noise);
  num("train_share", opt.train_share); num("dev_share", opt.dev_share);
  num("feed_days", opt.feed_days); num("feed_dev_days", opt.feed_dev_days);
  num("feed_test_days", opt.feed_test_days); num("feed_pages", opt.feed_pages);
  num("feed_fresh_share", opt.feed_fresh_share); num("feed_follows", opt.feed_follows);
  auto world = std::make_shared<World>(make_world(opt));
  // The files must be the ones these options generate.
  const auto queries = read_queries(data_dir / "queries.jsonl");
  bool same = queries.size() == world->queries.size();
  for (std::size_t i = 0; same && i < queries.size(); ++i)
    same = queries[i].id == world->queries[i].id && queries[i].text == world->queries[i].text;
  if (!same)
    throw Error((data_dir / "queries.jsonl").string() + ": does not match the world that " + meta.string() +
                " describes (edited or from another generator version)");
  return world;
}

// ---- reward ----------------------------------------------------------------

double reward_gain(const RewardSpec& spec, const SimOutcome& o) {
  double g = 0;
  for (const auto& t : spec.gains) g += t.weight * o.per_request(t.objective);
  return g;
}

double constraint_penalty(double deficit, double threshold, double weight) {
  if (deficit <= 0) return 0;
  if (deficit <= threshold || threshold <= 0) return weight * deficit;
  return weight * threshold * std::exp((deficit - threshold) / threshold);
}

double constraint_deficit(const RewardSpec& spec, const RewardSpec::Term& t, const SimOutcome& o) {
  if (spec.baseline.requests == 0) return 0;
  const double base = spec.baseline.per_request(t.objective);
  if (base <= 0) return 0;
  return std::max(0.0, (base - o.per_request(t.objective)) / base);
}

double reward(const RewardSpec& spec, const SimOutcome& o) {
  const double g = reward_gain(spec, o);
  if (spec.baseline.requests == 0) return g;
  double pen = 0;
  for (const auto& t : spec.constraints) pen += constraint_penalty(constraint_deficit(spec, t, o), t.threshold, t.weight);
  return g - reward_gain(spec, spec.baseline) * pen;
}

json outcome_to_json(const SimOutcome& o) {
  json j = {{"requests", o.requests}};
  for (const auto& name : sim_objectives()) j[name] = o.total(name);
  return j;
}

SimOutcome outcome_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected an object");
  SimOutcome o;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number() || it.value().get<double>() < 0)
      throw Error(where + ": field '" + it.key() + "': expected a number >= 0");
    if (it.key() == "requests") o.requests = it.value().get<std::size_t>();
    else if (double* m = member(o, it.key())) *m = it.value().get<double>();
    else throw Error(where + ": unknown field '" + it.key() + "'");
  }
  return o;
}

json reward_to_json(const RewardSpec& s) {
  json g = json::array(), c = json::array();
  for (const auto& t : s.gains) g.push_back({{"objective", t.objective}, {"weight", t.weight}});
  for (const auto& t : s.constraints)
    c.push_back({{"objective", t.objective}, {"weight", t.weight}, {"threshold", t.threshold}});
  json j = {{"gains", g}, {"constraints", c}, {"baseline", outcome_to_json(s.baseline)}};
  if (!s.baseline_split.empty()) j["baseline_split"] = s.baseline_split;
  return j;
}

RewardSpec reward_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected an object");
  RewardSpec s;
  auto terms = [&](const char* key, bool constraint) {
    std::vector<RewardSpec::Term> out;
    if (!j.contains(key)) return constraint ? s.constraints : s.gains;
    const std::string w = where + ": field '" + key + "'";
    if (!j[key].is_array()) throw Error(w + ": expected a list");
    for (std::size_t i = 0; i < j[key].size(); ++i) {
      const json& t = j[key][i];
      const std::string wi = w + "[" + std::to_string(i) + "]";
      if (!t.is_object() || !t.contains("objective") || !t["objective"].is_string())
        throw Error(wi + ": expected {\"objective\": name, \"weight\": w" + (constraint ? ", \"threshold\": t}" : "}"));
      RewardSpec::Term term{t["objective"].get<std::string>(), 1.0, constraint ? 0.05 : 0.0};
      if (!member(s.baseline, term.objective))
        throw Error(wi + ": unknown objective '" + term.objective + "' (known: " + known_objectives() + ")");
      for (auto it = t.begin(); it != t.end(); ++it) {
        if (it.key() == "objective") continue;
        if ((it.key() != "weight" && !(constraint && it.key() == "threshold")) || !it.value().is_number() ||
            !std::isfinite(it.value().get<double>()) || it.value().get<double>() < 0)
          throw Error(wi + ": field '" + it.key() + "': unknown, or not a finite number >= 0");
        (it.key() == "weight" ? term.weight : term.threshold) = it.value().get<double>();
      }
      out.push_back(term);
    }
    return out;
  };
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "gains" && it.key() != "constraints" && it.key() != "baseline" && it.key() != "baseline_split")
      throw Error(where + ": unknown field '" + it.key() + "'");
  s.gains = terms("gains", false);
  s.constraints = terms("constraints", true);
  if (j.contains("baseline")) s.baseline = outcome_from_json(j["baseline"], where + ": field 'baseline'");
  if (j.contains("baseline_split")) {
    if (!j["baseline_split"].is_string()) throw Error(where + ": field 'baseline_split': expected a string");
    s.baseline_split = j["baseline_split"].get<std::string>();
  }
  return s;
}

}  // namespace funnel
