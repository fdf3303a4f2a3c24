// funnel::tune_fusion: CEM over a fusion stage's weights on simulated traffic.
#include <chrono>
#include <cmath>
#include <algorithm>
#include <map>

#include "funnel/error.h"
#include "funnel/tune.h"
#include "fusion/fusion_inputs.h"
#include "tune/cem.h"
#include "util/fs.h"

namespace funnel {
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Where the replay starts: the fusion stage to tune, its name and weights.
struct Target {
  std::size_t index = 0;
  std::string name, type;
  std::vector<std::string> names;  // weight names, fixed order
  std::vector<double> hand;
};

Target find_target(const Pipeline& p, const std::string& wanted, const std::vector<std::string>& extra) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p.stage_role(i) != StageRole::kFusion) continue;
    if (!wanted.empty() && p.stage_names()[i] != wanted) continue;
    Target t;
    t.index = i;
    t.name = p.stage_names()[i];
    t.type = p.stage_types()[i];
    const json info = p.stage_info(i);
    for (auto it = info["weights"].begin(); it != info["weights"].end(); ++it) {
      t.names.push_back(it.key());
      t.hand.push_back(it.value().get<double>());
    }
    for (const auto& name : extra)
      if (std::find(t.names.begin(), t.names.end(), name) == t.names.end()) {
        t.names.push_back(name);
        t.hand.push_back(0.0);
      }
    if (t.names.empty())
      throw Error("tune: stage '" + t.name + "' has no weights to tune (give 'weights' in its config, or --add-input)");
    return t;
  }
  throw Error(wanted.empty() ? "tune: the cascade has no fusion stage (formula, ensemble_sort, gbdt, ltr)"
                             : "tune: the cascade has no fusion stage named '" + wanted + "'");
}

json weights_json(const Target& t, const std::vector<double>& w) {
  json j = json::object();
  for (std::size_t k = 0; k < t.names.size(); ++k) j[t.names[k]] = w[k];
  return j;
}

// The search runs over effect sizes theta_j = w_j * s_j, where s_j is the
// spread of input j (its standard deviation within a request, averaged over
// the cached requests): inputs of very different scales (a relevance
// logit, a share probability of 0.002, a 0/1 category flag) are explored
// alike, and a weight can start at 0, grow, or change sign. Inputs that do
// not vary within requests (s_j = 0) keep their hand weight.
struct Space {
  std::vector<double> spread;  // s_j
  std::vector<double> to_search(const std::vector<double>& w) const {
    std::vector<double> th(w.size());
    for (std::size_t j = 0; j < w.size(); ++j) th[j] = w[j] * spread[j];
    return th;
  }
  std::vector<double> from_search(const std::vector<double>& hand, const std::vector<double>& th) const {
    std::vector<double> w(th.size());
    for (std::size_t j = 0; j < th.size(); ++j) w[j] = spread[j] > 0 ? th[j] / spread[j] : hand[j];
    return w;
  }
};

// Replays the cascade from the fusion stage on each query's cached candidates.
class Replay {
 public:
  Replay(const Pipeline& p, const Simulator& sim, const Target& t) : p_(p), sim_(sim), t_(t) {}

  // Runs the cascade up to the fusion stage once for every query in `traffic`.
  void cache(std::span<const SimRequest> traffic, const std::function<void(const std::string&)>& progress) {
    std::size_t added = 0;
    for (const SimRequest& r : traffic) {
      if (cands_.count(r.query)) continue;
      Request req;
      req.query = sim_.world().queries[r.query].text;
      req.k = sim_.page_size();
      cands_.emplace(r.query, p_.run_prefix(req, t_.index));
      if (progress && ++added % 200 == 0) progress("tune: cached the cascade's candidates of " + std::to_string(cands_.size()) + " queries");
    }
  }

  // The rows the cascade shows for `r` with fusion weights `w`.
  std::vector<std::uint32_t> serve(const SimRequest& r, const json& w) const {
    Request req;
    req.query = sim_.world().queries[r.query].text;
    req.user_id = std::to_string(r.user);
    req.k = sim_.page_size();
    req.overrides = {{t_.name, {{"weights", w}}}};
    const Response resp = p_.run_from(req, t_.index, cands_.at(r.query));
    std::vector<std::uint32_t> rows;
    for (const auto& it : resp.items) rows.push_back(it.row);
    return rows;
  }

  // Mean within-request standard deviation of each input over the cache.
  std::vector<double> spreads() const {
    std::vector<double> sum(t_.names.size(), 0.0);
    std::size_t n = 0;
    for (const auto& [q, cands] : cands_) {
      if (cands.size() < 2) continue;
      Request req;
      req.query = sim_.world().queries[q].text;
      const auto x = fusion::fusion_features(p_.index(), req, cands, t_.names, "tune");
      const std::size_t m = t_.names.size();
      for (std::size_t j = 0; j < m; ++j) {
        double mean = 0, var = 0;
        for (std::size_t i = 0; i < cands.size(); ++i) mean += x[i * m + j];
        mean /= static_cast<double>(cands.size());
        for (std::size_t i = 0; i < cands.size(); ++i) var += (x[i * m + j] - mean) * (x[i * m + j] - mean);
        sum[j] += std::sqrt(var / static_cast<double>(cands.size()));
      }
      ++n;
    }
    for (auto& v : sum) v = n ? v / static_cast<double>(n) : 0.0;
    return sum;
  }

  SimOutcome outcome(std::span<const SimRequest> traffic, const json& w) const {
    return sim_.serve(traffic, 1, [&](const SimRequest& r) { return serve(r, w); })[0];
  }

 private:
  const Pipeline& p_;
  const Simulator& sim_;
  const Target& t_;
  std::map<std::uint32_t, std::vector<Candidate>> cands_;
};

std::vector<SimRequest> one_bucket(const Simulator& sim, const std::string& split, std::size_t n, std::uint64_t seed) {
  TrafficOptions o;
  o.split = split;
  o.requests = n;
  o.seed = seed;
  return sim.traffic(o);
}

// The weights a run ships: the hand weights and every round's mean, served
// on the same fresh validation traffic of the tuning split (common random
// numbers: the same requests and noise for each), against the hand
// weights' level on it; the best reward wins. CEM's last mean can have
// chased bucket noise (rare follows and shares move the penalties); this
// check on traffic none of the rounds saw keeps the hand weights unless a
// round's mean beats them.
json select_weights(const TuneOptions& o, std::uint64_t seed, const Simulator& sim, Replay& replay, const Target& t,
                    const json& hand_weights, std::vector<json>& rounds, const RewardSpec& reward_spec,
                    const std::function<void(const std::string&)>& say, std::string& chosen) {
  const auto valid = one_bucket(sim, o.split, o.select_requests, seed * 48271 + 12345);
  replay.cache(valid, {});
  RewardSpec spec = reward_spec;
  spec.baseline = replay.outcome(valid, hand_weights);
  const double hand = reward(spec, spec.baseline);
  json best = hand_weights;
  double best_reward = hand;
  std::size_t best_round = 0;
  for (auto& r : rounds) {
    const double v = reward(spec, replay.outcome(valid, r["weights"]));
    r["validation_reward"] = v;
    if (v > best_reward) {
      best_reward = v;
      best = r["weights"];
      best_round = r["round"].get<std::size_t>();
    }
  }
  char line[200];
  std::snprintf(line, sizeof line, "tune: validation ('%s', %zu requests): hand %.4f, best %s %.4f", o.split.c_str(),
                o.select_requests, hand, best_round ? ("round " + std::to_string(best_round)).c_str() : "hand",
                best_reward);
  say(line);
  chosen = best_round ? "round " + std::to_string(best_round) : "hand";
  return best;
}

// One CEM run on its own fresh traffic (seed o.seed + run), then the
// held-out check of its weights against the hand weights.
TuneRun tune_once(std::size_t run, const TuneOptions& o, const Simulator& sim, Replay& replay, const Target& t,
                  const Space& space, double scale, const RewardSpec& reward_spec,
                  const std::function<void(const std::string&)>& progress) {
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  const json hand_weights = weights_json(t, t.hand);
  const std::uint64_t seed = o.seed + run;
  TuneRun tr;
  std::size_t round = 0;
  auto evaluate = [&](const std::vector<std::vector<double>>& cand) {
    ++round;
    TrafficOptions to;
    to.split = o.split;
    to.requests = cand.size() * o.bucket_requests;
    to.buckets = cand.size();
    to.unit = o.unit;
    to.seed = seed * 7919 + round * 104729 + 7;
    const auto traffic = sim.traffic(to);
    replay.cache(traffic, progress);
    std::vector<json> w;
    for (const auto& c : cand) w.push_back(weights_json(t, space.from_search(t.hand, c)));
    const auto out = sim.serve(traffic, cand.size(), [&](const SimRequest& r) { return replay.serve(r, w[r.bucket]); });
    std::vector<double> rewards;
    for (const auto& oc : out) rewards.push_back(reward(reward_spec, oc));
    return rewards;
  };
  tune::CemOptions co;
  co.rounds = o.rounds;
  co.candidates = o.candidates;
  co.elite = o.elite;
  co.noise_floor = o.noise_floor * scale;
  co.seed = seed;
  std::vector<double> sd0(t.hand.size(), o.init_sd * scale);
  for (std::size_t j = 0; j < sd0.size(); ++j)
    if (space.spread[j] == 0) sd0[j] = 1e-12;  // a constant input: nothing to search
  const auto cem = tune::cem_maximise(space.to_search(t.hand), sd0, evaluate, co, [&](const tune::CemRound& r) {
    char line[160];
    std::snprintf(line, sizeof line, "tune: run %zu/%zu round %zu/%zu: reward mean %.4f best %.4f", run + 1,
                  o.repeats, r.round, o.rounds, r.reward_mean, r.reward_best);
    say(line);
    tr.rounds.push_back({{"round", r.round}, {"reward_mean", r.reward_mean}, {"reward_best", r.reward_best},
                         {"weights", weights_json(t, space.from_search(t.hand, r.mean))}});
  });
  tr.weights = select_weights(o, seed, sim, replay, t, hand_weights, tr.rounds, reward_spec, say, tr.chosen);
  // Held-out check: hand and tuned weights on the same fresh traffic from
  // the evaluation split; the constraints' baseline is the hand weights'
  // level on that same traffic.
  const auto held = one_bucket(sim, o.eval_split, o.eval_requests, seed * 31337 + 99991);
  replay.cache(held, progress);
  tr.hand_outcome = replay.outcome(held, hand_weights);
  tr.tuned_outcome = replay.outcome(held, tr.weights);
  RewardSpec spec = reward_spec;
  spec.baseline = tr.hand_outcome;
  tr.hand_reward = reward(spec, tr.hand_outcome);
  tr.tuned_reward = reward(spec, tr.tuned_outcome);
  char line[200];
  std::snprintf(line, sizeof line, "tune: run %zu/%zu held-out ('%s', %zu requests): hand %.4f, tuned %.4f", run + 1,
                o.repeats, o.eval_split.c_str(), o.eval_requests, tr.hand_reward, tr.tuned_reward);
  say(line);
  return tr;
}

}  // namespace

TuneResult tune_fusion(const Pipeline& pipeline, const Simulator& sim, const TuneOptions& o,
                       const std::function<void(const std::string&)>& progress) {
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  if (o.repeats == 0 || o.bucket_requests == 0 || o.eval_requests == 0 || o.baseline_requests == 0 ||
      o.select_requests == 0)
    throw Error("tune: repeats, bucket requests, eval requests and baseline requests must be >= 1");
  const Target t = find_target(pipeline, o.stage, o.add_inputs);
  TuneResult res;
  res.stage = t.name;
  res.type = t.type;
  res.hand_weights = weights_json(t, t.hand);
  res.reward = o.reward;
  res.eval_split = o.eval_split;
  res.reward.baseline_split = o.split;
  Replay replay(pipeline, sim, t);

  // The hand weights' levels on the tuning split: the constraints' baseline.
  const auto base_traffic = one_bucket(sim, o.split, o.baseline_requests, o.seed * 1000003 + 1);
  replay.cache(base_traffic, progress);
  res.reward.baseline = replay.outcome(base_traffic, res.hand_weights);
  Space space{replay.spreads()};
  double scale = 0;
  std::size_t moving = 0;
  for (std::size_t j = 0; j < t.hand.size(); ++j)
    if (space.spread[j] > 0 && t.hand[j] != 0) {
      scale += std::abs(t.hand[j] * space.spread[j]);
      ++moving;
    }
  scale = moving ? scale / static_cast<double>(moving) : 1.0;
  {
    std::string s = "tune: hand weights on " + std::to_string(o.baseline_requests) + " '" + o.split + "' requests:";
    for (const auto& name : sim_objectives()) s += " " + name + " " + std::to_string(res.reward.baseline.per_request(name));
    say(s);
  }

  for (std::size_t run = 0; run < o.repeats; ++run)
    res.runs.push_back(tune_once(run, o, sim, replay, t, space, scale, res.reward, progress));
  return res;
}

json tune_result_to_json(const TuneResult& r) {
  const TuneRun& first = r.runs.at(0);
  json rounds = json::array();
  for (const auto& x : first.rounds)
    rounds.push_back({{"round", x["round"]}, {"reward_mean", x["reward_mean"]}, {"reward_best", x["reward_best"]}});
  json constraints = json::array();
  for (const auto& c : r.reward.constraints) {
    const double h = first.hand_outcome.per_request(c.objective), t = first.tuned_outcome.per_request(c.objective);
    constraints.push_back({{"objective", c.objective}, {"hand", h}, {"tuned", t}, {"change", h > 0 ? t / h - 1 : 0.0},
                           {"threshold", c.threshold}});
  }
  auto mean_sd = [](const std::vector<double>& v) {
    double m = 0, s = 0;
    for (double x : v) m += x;
    m /= static_cast<double>(v.size());
    for (double x : v) s += (x - m) * (x - m);
    return std::pair{m, v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0.0};
  };
  std::vector<double> tuned, hand;
  json runs = json::array();
  for (const auto& run : r.runs) {
    tuned.push_back(run.tuned_reward);
    hand.push_back(run.hand_reward);
    runs.push_back({{"hand_reward", run.hand_reward}, {"tuned_reward", run.tuned_reward}, {"weights", run.weights},
                    {"chosen", run.chosen},
                    {"hand", outcome_to_json(run.hand_outcome)}, {"tuned", outcome_to_json(run.tuned_outcome)}});
  }
  const auto [tm, ts] = mean_sd(tuned);
  const auto [hm, hs] = mean_sd(hand);
  return {{"stage", r.stage}, {"type", r.type}, {"rounds", rounds}, {"hand_weights", r.hand_weights},
          {"tuned_weights", first.weights}, {"hand_reward", first.hand_reward}, {"tuned_reward", first.tuned_reward},
          {"hand", outcome_to_json(first.hand_outcome)}, {"tuned", outcome_to_json(first.tuned_outcome)},
          {"constraints", constraints},
          {"repeats", {{"n", r.runs.size()}, {"tuned_mean", tm}, {"tuned_sd", ts}, {"hand_mean", hm}, {"hand_sd", hs},
                       {"runs", runs}}},
          {"reward", reward_to_json(r.reward)}};
}

std::string tune_result_to_markdown(const TuneResult& r) {
  const json j = tune_result_to_json(r);
  auto f = [](double x, const char* spec = "%.4f") {
    char buf[64];
    std::snprintf(buf, sizeof buf, spec, x);
    return std::string(buf);
  };
  std::string md = "Stage `" + r.stage + "` (" + r.type + "). Hand weights `" + r.hand_weights.dump() +
                   "`; tuned (run 1, written) `" + j["tuned_weights"].dump() + "`.\n\n";
  md += "| run | chosen on validation | hand reward | tuned reward | change |";
  for (const auto& c : r.reward.constraints) md += " " + c.objective + " (tolerated -" + f(100 * c.threshold, "%.0f") + "%) |";
  md += "\n|---:|---|---:|---:|---:|";
  for (std::size_t c = 0; c < r.reward.constraints.size(); ++c) md += "---:|";
  md += "\n";
  for (std::size_t k = 0; k < r.runs.size(); ++k) {
    const auto& run = r.runs[k];
    md += "| " + std::to_string(k + 1) + " | " + run.chosen + " | " + f(run.hand_reward) + " | " + f(run.tuned_reward) + " | " +
          f(100 * (run.tuned_reward / run.hand_reward - 1), "%+.1f%%") + " |";
    for (const auto& c : r.reward.constraints) {
      const double h = run.hand_outcome.per_request(c.objective), t = run.tuned_outcome.per_request(c.objective);
      md += " " + f(t, "%.4f") + " (" + f(h > 0 ? 100 * (t / h - 1) : 0.0, "%+.1f%%") + ") |";
    }
    md += "\n";
  }
  const auto& rep = j["repeats"];
  md += "\nOver " + std::to_string(r.runs.size()) + " tuning runs, each on fresh traffic: tuned " +
        f(rep["tuned_mean"].get<double>()) + " ± " + f(rep["tuned_sd"].get<double>()) + ", hand " +
        f(rep["hand_mean"].get<double>()) + " ± " + f(rep["hand_sd"].get<double>()) +
        " (reward per request on held-out traffic; constraint columns: the tuned weights' rate per request and its "
        "change against the hand weights on the same traffic).\n";
  return md;
}

fs::path write_tuned_weights(const TuneResult& r, const fs::path& models) {
  if (models.empty()) throw Error("tune: no models folder to write the tuned weights into (give --models)");
  fs::create_directories(models / "fusion");
  const fs::path file = fusion::tuned_file(models, r.type);
  json j = tune_result_to_json(r);
  json out = {{"type", r.type}, {"weights", r.runs.at(0).weights},
              {"tuned", {{"stage", r.stage}, {"hand_weights", r.hand_weights}, {"hand_reward", j["hand_reward"]},
                         {"tuned_reward", j["tuned_reward"]}, {"repeats", j["repeats"]}}}};
  {
    detail::AtomicFile f(file);
    f.stream() << out.dump(2) << '\n';
    f.commit();
  }
  // The reward for `funnel eval --simulate`: its constraints' baseline is
  // the hand weights' level on the held-out split's traffic.
  RewardSpec spec = r.reward;
  spec.baseline = r.runs.at(0).hand_outcome;
  spec.baseline_split = r.eval_split;
  detail::AtomicFile f(models / "fusion" / "reward.json");
  f.stream() << reward_to_json(spec).dump(2) << '\n';
  f.commit();
  return file;
}

}  // namespace funnel
