// `funnel tune`: tune a fusion stage's weights against simulated live
// traffic (funnel/tune.h) and write them into the models folder.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "funnel/engine.h"
#include "funnel/error.h"
#include "funnel/tune.h"
#include "util/fs.h"

namespace funnel::cli {
namespace fs = std::filesystem;

namespace {

struct TuneArgs {
  std::string index, data, config, models, unit = "user", report;
  std::vector<std::string> constraints;  // objective:threshold
  bool json = false, no_write = false;
  TuneOptions o;
};

RewardSpec reward_from_args(const TuneArgs& a) {
  RewardSpec spec;
  if (a.constraints.empty()) return spec;
  spec.constraints.clear();
  for (const auto& c : a.constraints) {
    const auto colon = c.find(':');
    RewardSpec::Term t{c.substr(0, colon), 1.0, 0.05};
    if (colon != std::string::npos) {
      try {
        t.threshold = std::stod(c.substr(colon + 1));
      } catch (const std::exception&) {
        throw Error("--constraint '" + c + "': expected OBJECTIVE[:THRESHOLD], e.g. like:0.05");
      }
    }
    SimOutcome probe;
    probe.total(t.objective);  // throws on an unknown objective, listing the known ones
    if (!(t.threshold > 0)) throw Error("--constraint '" + c + "': the threshold must be > 0");
    spec.constraints.push_back(t);
  }
  return spec;
}

void run_tune(TuneArgs a) {
  if (a.config.empty()) throw Error("--config: a cascade with a fusion stage is needed (e.g. configs/demo-fusion.json)");
  a.o.unit = parse_bucket_unit(a.unit, "--bucket-unit");
  a.o.reward = reward_from_args(a);
  const Engine engine = Engine::from_files(a.index, a.config);
  std::fprintf(stderr, "tune: regenerating the world of %s for the simulator\n", a.data.c_str());
  const Simulator sim(load_world(a.data));
  const TuneResult r = tune_fusion(engine.pipeline(), sim, a.o, [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
  });
  const auto j = tune_result_to_json(r);
  if (!a.report.empty()) {
    detail::AtomicFile f(a.report);
    f.stream() << tune_result_to_markdown(r);
    f.commit();
  }
  std::string written;
  if (!a.no_write) {
    std::string models = a.models;
    if (models.empty()) models = engine.index().models_dir();
    written = write_tuned_weights(r, models).string();
  }
  if (a.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("stage '%s' (%s), hand weights %s\n", r.stage.c_str(), r.type.c_str(), r.hand_weights.dump().c_str());
  for (const auto& round : j["rounds"])
    std::printf("  round %d: reward mean %.4f, best %.4f\n", round["round"].get<int>(),
                round["reward_mean"].get<double>(), round["reward_best"].get<double>());
  std::printf("tuned weights %s\n", j["tuned_weights"].dump().c_str());
  std::printf("held-out reward: hand %.4f, tuned %.4f (%+.1f%%)\n", j["hand_reward"].get<double>(),
              j["tuned_reward"].get<double>(),
              100.0 * (j["tuned_reward"].get<double>() / j["hand_reward"].get<double>() - 1));
  for (const auto& c : j["constraints"])
    std::printf("  %-7s hand %.4f tuned %.4f (%+.1f%%, tolerated -%.0f%%)\n", c["objective"].get<std::string>().c_str(),
                c["hand"].get<double>(), c["tuned"].get<double>(), 100 * c["change"].get<double>(),
                100 * c["threshold"].get<double>());
  const auto& rep = j["repeats"];
  std::printf("%zu tuning runs on fresh traffic: tuned %.4f +- %.4f, hand %.4f +- %.4f\n", rep["n"].get<std::size_t>(),
              rep["tuned_mean"].get<double>(), rep["tuned_sd"].get<double>(), rep["hand_mean"].get<double>(),
              rep["hand_sd"].get<double>());
  if (!written.empty()) std::printf("wrote %s\n", written.c_str());
}

}  // namespace

void add_tune(CLI::App& app) {
  auto* cmd = app.add_subcommand("tune", "Tune a fusion stage's weights with CEM against simulated live traffic");
  auto a = std::make_shared<TuneArgs>();
  cmd->add_option("--index", a->index, "Index folder")->required();
  cmd->add_option("--data", a->data, "The generated world (funnel gen) the index was built from")->required();
  cmd->add_option("--config", a->config, "Cascade config with a fusion stage")->required();
  cmd->add_option("--models", a->models, "Where to write fusion/<type>.tuned.json (default: the index's models folder)");
  cmd->add_option("--stage", a->o.stage, "The fusion stage to tune (default: the first)");
  cmd->add_option("--add-input", a->o.add_inputs,
                  "Also tune this input, from weight 0 (repeatable; e.g. category=short, query_terms)");
  cmd->add_option("--split", a->o.split, "Queries of the tuning traffic")->capture_default_str();
  cmd->add_option("--eval-split", a->o.eval_split, "Queries of the held-out check")->capture_default_str();
  cmd->add_option("--rounds", a->o.rounds, "CEM rounds")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--candidates", a->o.candidates, "Candidates per round (N), one bucket each")->capture_default_str()->check(CLI::Range(2, 1000));
  cmd->add_option("--elite", a->o.elite, "Refit on the best K")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--noise-floor", a->o.noise_floor, "Added to the CEM sd every round (relative, as --init-sd)")->capture_default_str()->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--init-sd", a->o.init_sd, "Initial sd, relative to the hand weights' mean effect")->capture_default_str()->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--bucket-requests", a->o.bucket_requests, "Simulated requests per bucket")->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--select-requests", a->o.select_requests,
                  "Validation requests on which the hand weights and each round's mean compete")->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--bucket-unit", a->unit, "Bucket traffic by 'user' or 'request'")->capture_default_str();
  cmd->add_option("--baseline-requests", a->o.baseline_requests, "Requests measuring the hand weights' levels")->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--eval-requests", a->o.eval_requests, "Held-out requests per check")->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--repeats", a->o.repeats, "Independent tuning runs, each on fresh traffic")->capture_default_str()->check(CLI::Range(1, 100));
  cmd->add_option("--seed", a->o.seed, "Traffic seed")->capture_default_str();
  cmd->add_option("--constraint", a->constraints,
                  "OBJECTIVE[:THRESHOLD], repeatable (default: like:0.05 follow:0.10 share:0.15)");
  cmd->add_flag("--json", a->json, "Print the result as JSON");
  cmd->add_option("--report", a->report, "Also write a markdown summary to this file");
  cmd->add_flag("--no-write", a->no_write, "Do not write the tuned weights");
  cmd->callback([a] { run_tune(*a); });
}

}  // namespace funnel::cli
