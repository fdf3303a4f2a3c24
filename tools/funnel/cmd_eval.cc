// `funnel eval`: the cascade on the judged queries of a split.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <unordered_set>

#include "cascade.h"
#include "commands.h"
#include "funnel/engine.h"
#include "funnel/error.h"
#include "funnel/eval.h"
#include "progress.h"
#include "util/fs.h"
#include <fstream>
#include "funnel/simulator.h"

namespace funnel::cli {
namespace fs = std::filesystem;

namespace {

struct EvalArgs {
  std::string index, data, split = "test", config, run, report;
  std::size_t k = 1000, diversity_k = 10, simulate = 0;
  std::uint64_t sim_seed = 1;
  std::string reward;
  bool json = false;
};

// The queries and the split's qrels; every judged query must exist.
std::pair<std::vector<Query>, Qrels> read_judged(const EvalArgs& a) {
  const fs::path data(a.data);
  if (!fs::is_directory(data)) throw Error(a.data + ": data folder not found");
  auto queries = read_queries(data / "queries.jsonl");
  Qrels qrels = load_qrels(data, a.split);
  std::unordered_set<std::string> known;
  for (const auto& q : queries) known.insert(q.id);
  for (const auto& [qid, j] : qrels)
    if (!known.count(qid))
      throw Error((data / "qrels" / (a.split + ".tsv")).string() + ": query id '" + qid + "' is not in queries.jsonl");
  return {std::move(queries), std::move(qrels)};
}

void write_report(detail::AtomicFile& f, const EvalArgs& a, const std::string& where, const EvalResult& r,
                  const nlohmann::json& heads) {
  f.stream() << "# funnel evaluation\n\n"
             << "- index: `" << a.index << "`\n- data: `" << a.data << "`\n- split: `" << a.split
             << "`\n- cascade: " << where << "\n- final depth k: " << a.k << "\n\n"
             << eval_to_markdown(r) << "\n"
             << (heads.is_null() ? "" : "```\n" + head_report_text(heads) + "```\n\n")
             << "Recall@stage is the mean share of a query's relevant docs still present after the stage; "
                "nDCG uses gain 2^grade - 1 and a log2(rank + 1) discount.\n";
}

void run_eval(const EvalArgs& a) {
  std::string where;
  const auto cfg = load_cascade(a.config, a.k, where);
  const Engine engine(a.index, cfg, where);
  const auto [queries, qrels] = read_judged(a);
  // Open every output before the work, commit them together after it: a
  // bad path fails fast, and an error leaves neither file behind.
  std::unique_ptr<detail::AtomicFile> run_file, report_file;
  if (!a.run.empty()) run_file = std::make_unique<detail::AtomicFile>(a.run);
  if (!a.report.empty()) report_file = std::make_unique<detail::AtomicFile>(a.report);
  EvalOptions eo;
  eo.k = a.k;
  // Logs and human labels feed the AUCs of scoring stages.
  std::vector<Impression> impressions;
  Qrels labels;
  const fs::path data(a.data);
  bool scoring = false;
  for (std::size_t s = 0; s < engine.pipeline().size(); ++s) scoring = scoring || engine.pipeline().stage_scores(s);
  if (scoring && fs::exists(data / "impressions.jsonl")) {
    impressions = read_impressions(data / "impressions.jsonl");
    eo.impressions = &impressions;
  }
  if (scoring && fs::exists(data / "human_labels.tsv")) {
    labels = read_qrels(data / "human_labels.tsv");
    eo.human_labels = &labels;
  }
  eo.diversity_k = a.diversity_k;
  // Simulated traffic: the world the data folder was generated from.
  std::unique_ptr<Simulator> sim;
  RewardSpec spec;
  if (a.simulate) {
    sim = std::make_unique<Simulator>(load_world(data));
    eo.simulator = sim.get();
    eo.sim_split = a.split;
    eo.sim_requests = a.simulate;
    eo.sim_seed = a.sim_seed;
    // The reward `funnel tune` wrote (its constraints' baseline is the hand
    // weights' level on its held-out split), unless another is given.
    fs::path reward_file = a.reward;
    if (reward_file.empty() && !engine.index().models_dir().empty())
      reward_file = fs::path(engine.index().models_dir()) / "fusion" / "reward.json";
    if (!reward_file.empty() && fs::exists(reward_file)) {
      std::ifstream in(reward_file);
      const auto j = nlohmann::json::parse(in, nullptr, false);
      if (j.is_discarded()) throw Error(reward_file.string() + ": not valid JSON");
      spec = reward_from_json(j, reward_file.string());
      if (!spec.baseline_split.empty() && spec.baseline_split != a.split) {
        std::fprintf(stderr, "eval: %s has its baseline on split '%s', not '%s': reporting the reward without constraints\n",
                     reward_file.c_str(), spec.baseline_split.c_str(), a.split.c_str());
        spec.baseline = SimOutcome{};
      }
      eo.reward = &spec;
    } else if (!a.reward.empty()) {
      throw Error("--reward: " + a.reward + " not found");
    }
  }
  Progress progress("eval");
  eo.progress = std::ref(progress);
  const EvalResult r = evaluate(engine.pipeline(), queries, qrels, eo);
  if (r.queries == 0) throw Error((data / "qrels" / (a.split + ".tsv")).string() + ": no query with a relevant doc");
  const nlohmann::json heads = prerank_head_report(engine.index(), cfg, queries, qrels);
  if (run_file) write_trec_run(run_file->stream(), r.run, "funnel");
  if (report_file) write_report(*report_file, a, where, r, heads);
  if (run_file) run_file->commit();
  if (report_file) report_file->commit();
  if (a.json) {
    nlohmann::json j = eval_to_json(r);
    if (!heads.is_null())
      for (auto& s : j["stages"])
        if (s["name"] == heads["stage"]) s["head_report"] = heads;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s", eval_to_table(r).c_str());
    if (!heads.is_null()) std::printf("%s", head_report_text(heads).c_str());
  }
}

}  // namespace

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate the cascade on the judged queries of a split");
  auto a = std::make_shared<EvalArgs>();
  cmd->add_option("--index", a->index, "Index folder built by `funnel index`")->required();
  cmd->add_option("--data", a->data, "Data folder (BEIR layout) with queries.jsonl and qrels/")->required();
  cmd->add_option("--split", a->split, "Qrels split: qrels/<split>.tsv")->capture_default_str();
  cmd->add_option("--k", a->k, "Final list depth per query")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--config", a->config, "Cascade config JSON (default: BM25 recall -> truncate)");
  cmd->add_option("--run", a->run, "Write the final lists as a TREC run file");
  cmd->add_option("--report", a->report, "Write a markdown report");
  cmd->add_flag("--json", a->json, "Print the result as one JSON object");
  cmd->add_option("--diversity-k", a->diversity_k, "Depth of the diversity metrics")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--simulate", a->simulate,
                  "Also serve N simulated requests of the world's users (needs a world from funnel gen) and report "
                  "their feedback per request")->check(CLI::Range(0, 10000000));
  cmd->add_option("--sim-seed", a->sim_seed, "Seed of the simulated traffic")->capture_default_str();
  cmd->add_option("--reward", a->reward, "Reward spec (default: MODELS/fusion/reward.json written by funnel tune)");
  cmd->footer("Cross-validation and ablations: `funnel experiment --help`.");
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace funnel::cli
