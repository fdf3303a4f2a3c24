#include "experiments/fusion_report.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "experiments/report.h"
#include "funnel/engine.h"
#include "funnel/error.h"
#include "funnel/eval.h"
#include "funnel/metrics.h"
#include "funnel/simulator.h"
#include "fusion/fusion_inputs.h"
#include "fusion/fusion_stage.h"
#include "fusion/learned_stages.h"

namespace funnel::experiments {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Setting {
  std::string label;
  json tail;           // the stages after the cached prefix
  double theta = NAN;  // the DPP's theta, for the sweep
};

struct Row {
  std::string label;
  double ndcg = 0;
  DiversityResult div;
  std::vector<SimOutcome> sim;  // per traffic seed
  std::vector<double> reward;   // per seed, against the hand-weights row
  double theta = NAN;
};

json fusion_stage(const std::string& type, const json& weights) {
  json s = {{"name", "fusion"}, {"type", type}};
  if (!weights.is_null()) s["weights"] = weights;
  return s;
}

const json kRules = {{"name", "rules"}, {"type", "rules"}, {"windows", {{{"field", "author"}, {"max", 1}, {"window", 3}}}}};

json dpp(double theta) { return {{"name", "dpp"}, {"type", "dpp"}, {"theta", theta}}; }

std::vector<Setting> settings(const fs::path& models, const FusionReportOptions& o, std::string& best_label) {
  const json hand = fusion::weights_to_json(fusion::default_hand_weights());
  std::vector<Setting> s = {{"rank score (no fusion)", json::array()},
                            {"formula, hand weights", json::array({fusion_stage("formula", hand)})}};
  json best = s.back().tail[0];
  best_label = "formula, hand weights";
  if (fs::exists(fusion::tuned_file(models, "formula"))) {
    s.push_back({"formula, tuned (funnel tune)", json::array({fusion_stage("formula", "tuned")})});
    best = s.back().tail[0];
    best_label = "formula, tuned";
  }
  s.push_back({"ensemble_sort, hand weights", json::array({fusion_stage("ensemble_sort", hand)})});
  if (fs::exists(fusion::tuned_file(models, "ensemble_sort")))
    s.push_back({"ensemble_sort, tuned", json::array({fusion_stage("ensemble_sort", "tuned")})});
  if (fs::exists(fusion::gbdt_file(models))) s.push_back({"gbdt (learned)", json::array({fusion_stage("gbdt", nullptr)})});
  if (fs::exists(fusion::ltr_file(models))) {
    s.push_back({"ltr (learned)", json::array({fusion_stage("ltr", fusion::weights_to_json(fusion::read_ltr_weights(fusion::ltr_file(models))))})});
    if (fs::exists(fusion::tuned_file(models, "ltr")))
      s.push_back({"ltr, tuned", json::array({fusion_stage("ltr", "tuned")})});
  }
  char th[32];
  std::snprintf(th, sizeof th, "%.2g", o.dpp_theta);
  s.push_back({best_label + " + rules", json::array({best, kRules})});
  s.push_back({best_label + " + dpp (theta " + th + ")", json::array({best, dpp(o.dpp_theta)}), o.dpp_theta});
  s.push_back({best_label + " + dpp + rules", json::array({best, dpp(o.dpp_theta), kRules}), o.dpp_theta});
  for (double t : o.thetas) {
    std::snprintf(th, sizeof th, "%.2g", t);
    s.push_back({std::string("theta ") + th, json::array({best, dpp(t)}), t});
  }
  return s;
}

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

}  // namespace

std::string fusion_report(const FusionReportOptions& o, const std::function<void(const std::string&)>& log) {
  auto say = [&](const std::string& s) {
    if (log) log(s);
  };
  const Engine engine = Engine::from_files(o.index, o.config);
  const Pipeline& base = engine.pipeline();
  const fs::path models = engine.index().models_dir();
  say("fusion report: regenerating the world of " + o.data.string());
  const auto world = load_world(o.data);
  const Simulator sim(world);
  const Qrels qrels = load_qrels(o.data, o.split);

  // The cascade's output up to the rank stage, once per query.
  std::map<std::uint32_t, std::vector<Candidate>> cache;
  auto prefix = [&](std::uint32_t q) -> const std::vector<Candidate>& {
    auto it = cache.find(q);
    if (it == cache.end()) {
      Request req;
      req.query = world->queries[q].text;
      req.k = o.k;
      it = cache.emplace(q, base.run_prefix(req, base.size())).first;
      if (cache.size() % 200 == 0) say("fusion report: cached " + std::to_string(cache.size()) + " queries");
    }
    return it->second;
  };
  std::vector<std::uint32_t> judged;
  for (std::uint32_t q = 0; q < world->queries.size(); ++q)
    if (world->query_truth[q].split == o.split && qrels.count(world->queries[q].id)) judged.push_back(q);
  if (judged.empty()) throw Error("fusion report: no judged query in split '" + o.split + "'");

  // Every setting replays its stages on the cached candidates behind a
  // BM25-only recall stage that never runs (run_from starts after it).
  const json stub = {{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", 1}}}}};
  const Pipeline rules_counter(base.index_ptr(), json{{"stages", {stub, kRules}}});
  std::string best_label;
  const auto list = settings(models, o, best_label);
  RewardSpec spec;
  if (fs::exists(models / "fusion" / "reward.json")) {
    std::ifstream in(models / "fusion" / "reward.json");
    spec = reward_from_json(json::parse(in), (models / "fusion" / "reward.json").string());
  }
  std::vector<Row> rows;
  for (const Setting& s : list) {
    json stages = json::array({stub});
    for (const auto& t : s.tail) stages.push_back(t);
    const Pipeline p(base.index_ptr(), json{{"stages", stages}}, "fusion report: " + s.label);
    std::map<std::uint32_t, std::vector<std::uint32_t>> finals;
    auto final_rows = [&](std::uint32_t q) -> const std::vector<std::uint32_t>& {
      auto it = finals.find(q);
      if (it == finals.end()) {
        Request req;
        req.query = world->queries[q].text;
        req.k = o.k;
        const Response r = p.run_from(req, 1, prefix(q));
        std::vector<std::uint32_t> rws;
        for (const auto& item : r.items) rws.push_back(item.row);
        it = finals.emplace(q, std::move(rws)).first;
      }
      return it->second;
    };
    Row row;
    row.label = s.label;
    row.theta = s.theta;
    std::vector<std::vector<std::uint32_t>> lists;
    for (auto q : judged) {
      const auto& rws = final_rows(q);
      std::vector<std::string> ids;
      for (auto r : rws) ids.push_back(engine.index().doc_id(r));
      row.ndcg += metrics::ndcg_at_k(ids, qrels.at(world->queries[q].id), o.k);
      lists.push_back(rws);
    }
    row.ndcg /= static_cast<double>(judged.size());
    row.div = list_diversity(rules_counter, lists, o.k);
    for (std::size_t seed = 1; seed <= o.sim_seeds; ++seed)
      row.sim.push_back(simulate_lists(sim, final_rows, o.split, o.sim_requests, seed, nullptr).outcome);
    say("fusion report: " + s.label + ": nDCG@" + std::to_string(o.k) + " " + fmt("%.4f", row.ndcg) + ", watch " +
        fmt("%.4f", row.sim[0].per_request("watch")));
    rows.push_back(std::move(row));
  }
  // Rewards against the hand-weights row on the same traffic.
  const Row& hand = rows.at(1);
  for (auto& r : rows)
    for (std::size_t s = 0; s < r.sim.size(); ++s) {
      RewardSpec rs = spec;
      rs.baseline = hand.sim[s];
      r.reward.push_back(reward(rs, r.sim[s]));
    }

  std::string md = "# Fusion and re-rank on the synthetic world\n\n";
  md += "Generated by `funnel experiment fusion --index " + o.index.string() + " --data " + o.data.string() +
        " --config " + o.config.string() + "` on the `" + o.split + "` split: " + std::to_string(judged.size()) +
        " judged queries for nDCG@" + std::to_string(o.k) + " and diversity; " + std::to_string(o.sim_seeds) + " x " +
        std::to_string(o.sim_requests) +
        " simulated requests (the world's users and user model, the same traffic for every row) for the feedback "
        "per request. Reward: watch per request minus penalties when likes, follows or shares fall below the "
        "hand-weights row by more than their tolerance (docs/fusion.md); mean ± sd over the traffic samples. "
        "Diversity over the top " + std::to_string(o.k) + ": ILD = mean 1 - cosine of the stored doc embeddings; "
        "rule violations under \"no author twice within 3 positions\".\n\n";
  md += "| setting | nDCG@" + std::to_string(o.k) +
        " | click | watch | like | share | follow | ILD | author cov. | rule viol. | reward |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  json jrows = json::array();
  std::vector<double> sx, sy;
  std::vector<std::string> sl;
  for (const auto& r : rows) {
    auto per = [&](const char* ob) {
      std::vector<double> v;
      for (const auto& s : r.sim) v.push_back(s.per_request(ob));
      return mean_sd(v).first;
    };
    const auto [rm, rsd] = mean_sd(r.reward);
    if (!std::isnan(r.theta) && r.label.rfind("theta ", 0) == 0) {
      sx.push_back(r.div.ild);
      sy.push_back(r.ndcg);
      sl.push_back(r.label);
      continue;  // the sweep goes to the plot and its own table
    }
    md += "| " + r.label + " | " + fmt("%.4f", r.ndcg) + " | " + fmt("%.4f", per("click")) + " | " +
          fmt("%.4f", per("watch")) + " | " + fmt("%.4f", per("like")) + " | " + fmt("%.4f", per("share")) + " | " +
          fmt("%.4f", per("follow")) + " | " + fmt("%.4f", r.div.ild) + " | " + fmt("%.3f", r.div.author_coverage) +
          " | " + fmt("%.3f", r.div.rule_violations) + " | " + fmt("%.4f", rm) + " ± " + fmt("%.4f", rsd) + " |\n";
  }
  md += "\n## Relevance against diversity as theta moves\n\n`" + best_label +
        " + dpp` with theta from 0 (diversity only) to 1 (score order); plot: `theta.svg`.\n\n"
        "| theta | nDCG@" + std::to_string(o.k) + " | ILD | author cov. | watch | reward |\n|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : rows) {
    json jr = {{"setting", r.label}, {"ndcg", r.ndcg}, {"ild", r.div.ild}, {"author_coverage", r.div.author_coverage},
               {"category_coverage", r.div.category_coverage}, {"rule_violations", r.div.rule_violations},
               {"reward_mean", mean_sd(r.reward).first}, {"reward_sd", mean_sd(r.reward).second}};
    json sims = json::array();
    for (const auto& s : r.sim) sims.push_back(outcome_to_json(s));
    jr["simulated"] = sims;
    if (!std::isnan(r.theta)) jr["theta"] = r.theta;
    jrows.push_back(jr);
    if (r.label.rfind("theta ", 0) != 0) continue;
    std::vector<double> w;
    for (const auto& s : r.sim) w.push_back(s.per_request("watch"));
    md += "| " + r.label.substr(6) + " | " + fmt("%.4f", r.ndcg) + " | " + fmt("%.4f", r.div.ild) + " | " +
          fmt("%.3f", r.div.author_coverage) + " | " + fmt("%.4f", mean_sd(w).first) + " | " +
          fmt("%.4f", mean_sd(r.reward).first) + " |\n";
  }
  fs::create_directories(o.out);
  write_text_file(o.out / "fusion.md", md);
  write_text_file(o.out / "fusion.json", json{{"split", o.split}, {"k", o.k}, {"rows", jrows}}.dump(2) + "\n");
  if (sx.size() >= 2)
    write_text_file(o.out / "theta.svg", svg_curve(sx, sy, sl, "intra-list diversity (ILD) of the top " + std::to_string(o.k),
                                                   "nDCG@" + std::to_string(o.k), "DPP: relevance against diversity"));
  return md;
}

}  // namespace funnel::experiments
