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


// The cascade's output up to the rank stage, cached once per query, and
// each setting's final lists replayed from it.
class Replays {
 public:
  Replays(const FusionReportOptions& o, const std::function<void(const std::string&)>& log)
      : o_(o), log_(log), engine_(Engine::from_files(o.index, o.config)), base_(engine_.pipeline()) {
    say("fusion report: regenerating the world of " + o.data.string());
    world_ = load_world(o.data);
    sim_ = std::make_unique<Simulator>(world_);
    qrels_ = load_qrels(o.data, o.split);
    for (std::uint32_t q = 0; q < world_->queries.size(); ++q)
      if (world_->query_truth[q].split == o.split && qrels_.count(world_->queries[q].id)) judged_.push_back(q);
    if (judged_.empty()) throw Error("fusion report: no judged query in split '" + o.split + "'");
  }

  fs::path models() const { return engine_.index().models_dir(); }
  std::size_t judged() const { return judged_.size(); }

  // nDCG@k, diversity and simulated feedback of one setting. Its stages
  // replay on the cached candidates behind a BM25-only recall stage that
  // never runs (run_from starts after it).
  Row evaluate(const Setting& s, const Pipeline& rules_counter) {
    json stages = json::array({stub()});
    for (const auto& t : s.tail) stages.push_back(t);
    const Pipeline p(base_.index_ptr(), json{{"stages", stages}}, "fusion report: " + s.label);
    std::map<std::uint32_t, std::vector<std::uint32_t>> finals;
    auto final_rows = [&](std::uint32_t q) -> const std::vector<std::uint32_t>& {
      auto it = finals.find(q);
      if (it == finals.end()) {
        const Response r = p.run_from(request(q), 1, prefix(q));
        std::vector<std::uint32_t> rows;
        for (const auto& item : r.items) rows.push_back(item.row);
        it = finals.emplace(q, std::move(rows)).first;
      }
      return it->second;
    };
    Row row;
    row.label = s.label;
    row.theta = s.theta;
    std::vector<std::vector<std::uint32_t>> lists;
    for (auto q : judged_) {
      const auto& rows = final_rows(q);
      std::vector<std::string> ids;
      for (auto r : rows) ids.push_back(engine_.index().doc_id(r));
      row.ndcg += metrics::ndcg_at_k(ids, qrels_.at(world_->queries[q].id), o_.k);
      lists.push_back(rows);
    }
    row.ndcg /= static_cast<double>(judged_.size());
    row.div = list_diversity(rules_counter, lists, o_.k);
    for (std::size_t seed = 1; seed <= o_.sim_seeds; ++seed)
      row.sim.push_back(simulate_lists(*sim_, final_rows, o_.split, o_.sim_requests, seed, nullptr).outcome);
    say("fusion report: " + s.label + ": nDCG@" + std::to_string(o_.k) + " " + fmt("%.4f", row.ndcg) + ", watch " +
        fmt("%.4f", row.sim[0].per_request("watch")));
    return row;
  }

  Pipeline rules_counter() const { return Pipeline(base_.index_ptr(), json{{"stages", {stub(), kRules}}}); }

 private:
  static json stub() { return {{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", 1}}}}}; }
  void say(const std::string& s) const {
    if (log_) log_(s);
  }
  Request request(std::uint32_t q) const {
    Request req;
    req.query = world_->queries[q].text;
    req.k = o_.k;
    return req;
  }
  const std::vector<Candidate>& prefix(std::uint32_t q) {
    auto it = cache_.find(q);
    if (it == cache_.end()) {
      it = cache_.emplace(q, base_.run_prefix(request(q), base_.size())).first;
      if (cache_.size() % 200 == 0) say("fusion report: cached " + std::to_string(cache_.size()) + " queries");
    }
    return it->second;
  }

  const FusionReportOptions& o_;
  std::function<void(const std::string&)> log_;
  const Engine engine_;
  const Pipeline& base_;
  std::shared_ptr<const World> world_;
  std::unique_ptr<Simulator> sim_;
  Qrels qrels_;
  std::vector<std::uint32_t> judged_;
  std::map<std::uint32_t, std::vector<Candidate>> cache_;
};

// Each row's reward on each traffic sample, against the hand-weights row
// (rows[1]) on the same sample.
void add_rewards(std::vector<Row>& rows, const fs::path& models) {
  RewardSpec spec;
  const fs::path file = models / "fusion" / "reward.json";
  if (fs::exists(file)) {
    std::ifstream in(file);
    const json j = json::parse(in, nullptr, false);
    if (j.is_discarded()) throw Error(file.string() + ": not valid JSON");
    spec = reward_from_json(j, file.string());
  }
  const Row& hand = rows.at(1);
  for (auto& r : rows)
    for (std::size_t s = 0; s < r.sim.size(); ++s) {
      RewardSpec rs = spec;
      rs.baseline = hand.sim[s];
      r.reward.push_back(reward(rs, r.sim[s]));
    }
}

double per_request(const Row& r, const char* objective) {
  std::vector<double> v;
  for (const auto& s : r.sim) v.push_back(s.per_request(objective));
  return mean_sd(v).first;
}

bool in_sweep(const Row& r) { return r.label.rfind("theta ", 0) == 0; }

std::string markdown(const FusionReportOptions& o, const std::vector<Row>& rows, std::size_t judged,
                     const std::string& best_label) {
  const std::string K = std::to_string(o.k);
  std::string md = "# Fusion and re-rank on the synthetic world\n\n";
  md += "Generated by `funnel experiment fusion --index " + o.index.string() + " --data " + o.data.string() +
        " --config " + o.config.string() + "` on the `" + o.split + "` split: " + std::to_string(judged) +
        " judged queries for nDCG@" + K + " and diversity; " + std::to_string(o.sim_seeds) + " x " +
        std::to_string(o.sim_requests) +
        " simulated requests (the world's users and user model, the same traffic for every row) for the feedback "
        "per request. Reward: watch per request minus penalties when likes, follows or shares fall below the "
        "hand-weights row by more than their tolerance (docs/fusion.md); mean ± sd over the traffic samples. "
        "Diversity over the top " + K + ": ILD = mean 1 - cosine of the stored doc embeddings; "
        "rule violations under \"no author twice within 3 positions\".\n\n";
  md += "| setting | nDCG@" + K + " | click | watch | like | share | follow | ILD | author cov. | rule viol. | reward |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : rows) {
    if (in_sweep(r)) continue;  // the sweep has its own table and the plot
    const auto [rm, rsd] = mean_sd(r.reward);
    md += "| " + r.label + " | " + fmt("%.4f", r.ndcg) + " | " + fmt("%.4f", per_request(r, "click")) + " | " +
          fmt("%.4f", per_request(r, "watch")) + " | " + fmt("%.4f", per_request(r, "like")) + " | " +
          fmt("%.4f", per_request(r, "share")) + " | " + fmt("%.4f", per_request(r, "follow")) + " | " +
          fmt("%.4f", r.div.ild) + " | " + fmt("%.3f", r.div.author_coverage) + " | " +
          fmt("%.3f", r.div.rule_violations) + " | " + fmt("%.4f", rm) + " ± " + fmt("%.4f", rsd) + " |\n";
  }
  md += "\n## Relevance against diversity as theta moves\n\n`" + best_label +
        " + dpp` with theta from 0 (diversity only) to 1 (score order); plot: `theta.svg`.\n\n"
        "| theta | nDCG@" + K + " | ILD | author cov. | watch | reward |\n|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : rows)
    if (in_sweep(r))
      md += "| " + r.label.substr(6) + " | " + fmt("%.4f", r.ndcg) + " | " + fmt("%.4f", r.div.ild) + " | " +
            fmt("%.3f", r.div.author_coverage) + " | " + fmt("%.4f", per_request(r, "watch")) + " | " +
            fmt("%.4f", mean_sd(r.reward).first) + " |\n";
  return md;
}

json rows_json(const FusionReportOptions& o, const std::vector<Row>& rows) {
  json out = json::array();
  for (const auto& r : rows) {
    json jr = {{"setting", r.label}, {"ndcg", r.ndcg}, {"ild", r.div.ild}, {"author_coverage", r.div.author_coverage},
               {"category_coverage", r.div.category_coverage}, {"rule_violations", r.div.rule_violations},
               {"reward_mean", mean_sd(r.reward).first}, {"reward_sd", mean_sd(r.reward).second}};
    json sims = json::array();
    for (const auto& s : r.sim) sims.push_back(outcome_to_json(s));
    jr["simulated"] = sims;
    if (!std::isnan(r.theta)) jr["theta"] = r.theta;
    out.push_back(jr);
  }
  return json{{"split", o.split}, {"k", o.k}, {"rows", out}};
}

}  // namespace

std::string fusion_report(const FusionReportOptions& o, const std::function<void(const std::string&)>& log) {
  Replays replays(o, log);
  std::string best_label;
  const auto list = settings(replays.models(), o, best_label);
  const Pipeline rules_counter = replays.rules_counter();
  std::vector<Row> rows;
  for (const Setting& s : list) rows.push_back(replays.evaluate(s, rules_counter));
  add_rewards(rows, replays.models());
  const std::string md = markdown(o, rows, replays.judged(), best_label);
  std::vector<double> sx, sy;
  std::vector<std::string> sl;
  for (const auto& r : rows)
    if (in_sweep(r)) {
      sx.push_back(r.div.ild);
      sy.push_back(r.ndcg);
      sl.push_back(r.label);
    }
  fs::create_directories(o.out);
  write_text_file(o.out / "fusion.md", md);
  write_text_file(o.out / "fusion.json", rows_json(o, rows).dump(2) + "\n");
  if (sx.size() >= 2)
    write_text_file(o.out / "theta.svg", svg_curve(sx, sy, sl, "intra-list diversity (ILD) of the top " + std::to_string(o.k),
                                                   "nDCG@" + std::to_string(o.k), "DPP: relevance against diversity"));
  return md;
}

}  // namespace funnel::experiments
