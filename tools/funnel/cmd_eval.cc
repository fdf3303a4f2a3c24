#include <cstdio>
#include <fstream>
#include <algorithm>
#include <memory>
#include <unordered_set>

#include "ablation.h"
#include "cv.h"
#include "cascade.h"
#include "commands.h"
#include "funnel/error.h"
#include "funnel/embedding_store.h"
#include "funnel/eval.h"
#include "model/prerank_model.h"
#include "progress.h"
#include "util/fs.h"

namespace funnel::cli {

namespace {

// Head report of the cascade's pre-rank model: mean cosine between a query's
// own heads (over up to 1,000 evaluated queries) and between a doc's own
// heads (over up to 1,000 docs spread over the embedding store).
nlohmann::json head_report(const Index& index, const nlohmann::json& cfg, const std::vector<Query>& queries,
                           const Qrels& qrels) {
  std::string models = index.models_dir();
  std::string stage;
  for (const auto& s : cfg["stages"])
    if (s.value("type", "") == "prerank") {
      stage = s.value("name", "prerank");
      models = s.value("models", models);
      break;
    }
  if (stage.empty() || !index.embeddings()) return nullptr;
  auto model = model::PrerankModel::load(models);
  std::vector<std::string> texts;
  for (const auto& q : queries)
    if (qrels.count(q.id) && texts.size() < 1000) texts.push_back(q.text);
  const auto& c = model->config();
  auto qv = model->encode_queries(texts);
  const auto& store = *index.embeddings();
  const std::uint32_t nd = store.spec().heads, dim = store.spec().dim;
  const std::size_t n = std::min<std::size_t>(1000, store.rows());
  std::vector<float> dv(n * nd * dim);
  for (std::size_t i = 0; i < n; ++i)
    store.decode_row(i * store.rows() / n, std::span<float>(dv.data() + i * nd * dim, std::size_t{nd} * dim));
  auto matrix = [](const std::vector<double>& m, std::size_t k) {
    nlohmann::json rows = nlohmann::json::array();
    for (std::size_t i = 0; i < k; ++i) rows.push_back(std::vector<double>(m.begin() + i * k, m.begin() + (i + 1) * k));
    return rows;
  };
  return {{"stage", stage},
          {"queries", texts.size()},
          {"docs", n},
          {"query_head_cosine",
           matrix(mean_head_cosine(qv, texts.size(), static_cast<std::uint32_t>(c.nq), static_cast<std::uint32_t>(c.head_dim)),
                  static_cast<std::size_t>(c.nq))},
          {"doc_head_cosine", matrix(mean_head_cosine(dv, n, nd, dim), nd)}};
}

std::string head_report_text(const nlohmann::json& h) {
  std::string out = "head report (" + h["stage"].get<std::string>() + "): mean cosine between a query's own heads";
  auto show = [&](const nlohmann::json& m) {
    for (const auto& row : m) {
      out += "\n   ";
      for (double x : row) {
        char buf[16];
        std::snprintf(buf, sizeof buf, " %+.2f", x);
        out += buf;
      }
    }
  };
  show(h["query_head_cosine"]);
  out += "\n  and between a doc's own heads";
  show(h["doc_head_cosine"]);
  return out + "\n";
}

}  // namespace

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate the cascade on the judged queries of a split");
  struct Args {
    std::string index, data, split = "test", config, run, report;
    std::size_t k = 1000;
    bool json = false;
    std::string ablation;
    AblationOptions ab;
    int cv = 0;
    CvOptions cvo;
  };
  auto a = std::make_shared<Args>();
  a->ab.train.preset = "tiny";
  a->ab.train.epochs = 1;
  a->ab.train.steps_per_epoch = 1000;
  // Cross-validation on small labels-only collections: tiny models, short runs.
  a->cvo.prerank.preset = "tiny";
  a->cvo.prerank.matcher = "dot";
  a->cvo.prerank.use_image = false;
  a->cvo.prerank.epochs = 2;
  a->cvo.prerank.steps_per_epoch = 300;
  // The ranker on labels-only data: cross features only by default (a text
  // tower learnt from a few dozen queries overfits: on CISI it lost to BM25),
  // trained long enough for the inner folds to pick the epoch.
  a->cvo.rank.preset = "tiny";
  a->cvo.rank.use_text = false;
  a->cvo.rank.epochs = 10;
  a->cvo.rank.steps_per_epoch = 300;
  a->cvo.rank.dev_queries = 1000;
  a->cvo.rank.stored_depth = 0;
  cmd->add_option("--index", a->index, "Index folder built by `funnel index` (required unless --ablation)");
  cmd->add_option("--data", a->data, "Data folder (BEIR layout) with queries.jsonl and qrels/")->required();
  cmd->add_option("--split", a->split, "Qrels split: qrels/<split>.tsv")->capture_default_str();
  cmd->add_option("--k", a->k, "Final list depth per query")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--config", a->config, "Cascade config JSON (default: BM25 recall -> truncate)");
  cmd->add_option("--run", a->run, "Write the final lists as a TREC run file");
  cmd->add_option("--report", a->report, "Write a markdown report");
  cmd->add_flag("--json", a->json, "Print the result as one JSON object");
  auto* ab = cmd->add_option("--ablation", a->ablation,
                             "Train and compare variants instead: 'prerank' (dot vs soft_attention vs esim, with and "
                             "without the image channel, over --seeds) or 'distill' (the ways of teaching the pre-rank "
                             "student: teacher, in-batch, ranker distillation, child-tuning, MLM init); writes "
                             "--out/ablation.{md,json,svg}")
                 ->check(CLI::IsMember({"prerank", "distill"}));
  cmd->add_option("--out", a->ab.out, "Ablation or cross-validation output folder")->capture_default_str();
  cmd->add_option("--seeds", a->ab.seeds, "Ablation seeds")->capture_default_str()->needs(ab)->delimiter(',');
  cmd->add_option("--matchers", a->ab.matchers, "Ablation matchers")->capture_default_str()->needs(ab)->delimiter(',')
      ->check(CLI::IsMember({"dot", "soft_attention", "esim"}));
  cmd->add_option("--preset", a->ab.train.preset, "Ablation students' encoder preset")
      ->capture_default_str()->needs(ab)->check(CLI::IsMember({"tiny", "small", "base"}));
  cmd->add_option("--epochs", a->ab.train.epochs, "Ablation training epochs")->capture_default_str()->needs(ab)
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--steps", a->ab.train.steps_per_epoch, "Ablation training steps per epoch")
      ->capture_default_str()->needs(ab)->check(CLI::Range(1, 10000000));
  cmd->add_option("--head-dim", a->ab.train.head_dim, "Ablation students' head size")->capture_default_str()->needs(ab)
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--depth", a->ab.depth, "Ablation: BM25 candidates re-scored by pre-rank")->capture_default_str()
      ->needs(ab)->check(CLI::Range(1, 100000));
  cmd->add_option("--keep", a->ab.keep, "Ablation: docs pre-rank keeps")->capture_default_str()->needs(ab)
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--eval-queries", a->ab.eval_queries, "Ablation distill: test queries evaluated, evenly spaced (0: all)")
      ->capture_default_str()->needs(ab);
  cmd->add_option("--rows", a->ab.rows,
                  "Ablation distill: only these rows (alone, margin, inbatch, ranker, child, mlm15, mlm30, mlm45, "
                  "rankeronly), e.g. to split the work between processes writing one --out; a last run without it gathers them all")
      ->needs(ab)->delimiter(',');
  cmd->add_option("--rank-steps", a->ab.rank_steps, "Ablation distill: the ranker's training steps")
      ->capture_default_str()->needs(ab)->check(CLI::Range(1, 10000000));
  cmd->add_option("--teacher-epochs", a->ab.teacher_epochs,
                  "Ablation distill: epochs (of --steps) the two-tower teacher trains; more than the students' so it "
                  "has something to teach")
      ->capture_default_str()->needs(ab)->check(CLI::Range(1, 1000));
  cmd->add_option("--margin-weight", a->ab.margin_weight, "Ablation distill: MarginMSE weight of the rows that use it")
      ->capture_default_str()->needs(ab)->check(CLI::NonNegativeNumber);
  cmd->add_option("--inbatch-weight", a->ab.inbatch_weight, "Ablation distill: in-batch KL weight of the rows that use it")
      ->capture_default_str()->needs(ab)->check(CLI::NonNegativeNumber);
  cmd->add_option("--pretrain-steps", a->ab.pretrain_steps, "Ablation distill: MLM pre-training steps")
      ->capture_default_str()->needs(ab)->check(CLI::Range(1, 10000000));
  cmd->add_flag("--force", a->ab.force, "Ablation: reuse a non-empty --out (finished runs are kept); cross-validation: replace the --out of an "
                "earlier --cv");
  cmd->add_option("--cv", a->cv,
                  "Cross-validate instead: split the judged queries into K folds, train ranker and pre-ranker on K-1 "
                  "(with pseudo-queries from the docs for the pre-ranker), evaluate the cascade on the held-out fold "
                  "next to BM25 alone; writes --out/cv.{md,json}")
      ->check(CLI::Range(2, 100));
  cmd->add_option("--cv-seed", a->cvo.seed, "Cross-validation: seed of the fold split and the training")->capture_default_str();
  cmd->add_option("--cv-rank-steps", a->cvo.rank.steps_per_epoch, "Cross-validation: ranker steps per epoch")
      ->capture_default_str();
  cmd->add_option("--cv-prerank-steps", a->cvo.prerank.steps_per_epoch, "Cross-validation: pre-ranker steps per epoch")
      ->capture_default_str();
  cmd->add_flag("--no-pseudo-queries", [a](std::int64_t) { a->cvo.pseudo_queries = false; },
                "Cross-validation: train the pre-ranker on the judged queries only");
  cmd->add_flag("--cv-text,!--cv-no-text", a->cvo.rank.use_text,
                "Cross-validation: give the ranker its text tower too (default: cross features only, the fewer "
                "weights that a few dozen judged queries can fit)");
  cmd->add_option("--cv-rank-epochs", a->cvo.rank.epochs, "Cross-validation: ranker epochs (the inner folds choose among 1..N)")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--cv-inner", a->cvo.inner_folds,
                  "Cross-validation: inner folds of the training queries that choose the ranker's epoch and BM25 "
                  "weight on all of them (0: on one dev split of a fifth)")
      ->capture_default_str()->check(CLI::Range(0, 100));
  cmd->add_flag("--verbose", a->cvo.verbose, "Cross-validation: print the trainers' progress");
  cmd->callback([=] {
    if (a->cv > 0) {
      if (a->ab.out.empty()) throw CLI::ValidationError("--out", "required with --cv");
      CvOptions o = a->cvo;
      o.data = a->data;
      o.out = a->ab.out;
      o.folds = a->cv;
      o.force = a->ab.force;
      o.json = a->json;
      run_cv(o);
      return;
    }
    if (!a->ablation.empty()) {
      if (a->ab.out.empty()) throw CLI::ValidationError("--out", "required with --ablation");
      if (a->ab.keep > a->ab.depth) throw CLI::ValidationError("--keep", "at most --depth");
      a->ab.data = a->data;
      if (a->ablation == "distill") {
        // The student the pre-rank ablation found best: dot, no image.
        a->ab.train.matcher = "dot";
        a->ab.train.use_image = false;
        a->ab.train.cascade_queries = 100;
        run_distill_ablation(a->ab);
      } else {
        run_prerank_ablation(a->ab);
      }
      return;
    }
    if (a->index.empty()) throw CLI::RequiredError("--index");
    std::string where;
    auto cfg = load_cascade(a->config, a->k, where);
    auto index = Index::open(a->index);
    Pipeline pipeline(index, cfg, where);
    std::filesystem::path data(a->data);
    if (!std::filesystem::is_directory(data)) throw Error(a->data + ": data folder not found");
    auto queries = read_queries(data / "queries.jsonl");
    Qrels qrels = load_qrels(data, a->split);
    std::unordered_set<std::string> known;
    for (const auto& q : queries) known.insert(q.id);
    for (const auto& [qid, j] : qrels)
      if (!known.count(qid))
        throw Error((data / "qrels" / (a->split + ".tsv")).string() + ": query id '" + qid +
                    "' is not in queries.jsonl");
    // Open every output before the work, commit them together after it: a
    // bad path fails fast, and an error leaves neither file behind.
    std::unique_ptr<detail::AtomicFile> run_file, report_file;
    if (!a->run.empty()) run_file = std::make_unique<detail::AtomicFile>(a->run);
    if (!a->report.empty()) report_file = std::make_unique<detail::AtomicFile>(a->report);
    Progress progress("eval");
    EvalOptions eo;
    eo.k = a->k;
    // Logs and human labels feed the AUCs of scoring stages.
    std::vector<Impression> impressions;
    Qrels labels;
    const auto types = pipeline.stage_types();
    if (std::any_of(types.begin(), types.end(), [](const std::string& t) { return is_scoring_stage_type(t); })) {
      if (std::filesystem::exists(data / "impressions.jsonl")) {
        impressions = read_impressions(data / "impressions.jsonl");
        eo.impressions = &impressions;
      }
      if (std::filesystem::exists(data / "human_labels.tsv")) {
        labels = read_qrels(data / "human_labels.tsv");
        eo.human_labels = &labels;
      }
    }
    eo.progress = std::ref(progress);
    EvalResult r = evaluate(pipeline, queries, qrels, eo);
    if (r.queries == 0)
      throw Error((data / "qrels" / (a->split + ".tsv")).string() + ": no query with a relevant doc");
    nlohmann::json heads = head_report(*index, cfg, queries, qrels);
    if (run_file) write_trec_run(run_file->stream(), r.run, "funnel");
    if (report_file) {
      detail::AtomicFile& f = *report_file;
      f.stream() << "# funnel evaluation\n\n"
                 << "- index: `" << a->index << "`\n- data: `" << a->data << "`\n- split: `" << a->split
                 << "`\n- cascade: " << where << "\n- final depth k: " << a->k << "\n\n"
                 << eval_to_markdown(r) << "\n"
                 << (heads.is_null() ? "" : "```\n" + head_report_text(heads) + "```\n\n")
                 << "Recall@stage is the mean share of a query's relevant docs still present after the stage; "
                    "nDCG uses gain 2^grade - 1 and a log2(rank + 1) discount.\n";
    }
    if (run_file) run_file->commit();
    if (report_file) report_file->commit();
    if (a->json) {
      nlohmann::json j = eval_to_json(r);
      if (!heads.is_null())
        for (auto& s : j["stages"])
          if (s["name"] == heads["stage"]) s["head_report"] = heads;
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("%s", eval_to_table(r).c_str());
      if (!heads.is_null()) std::printf("%s", head_report_text(heads).c_str());
    }
  });
}

}  // namespace funnel::cli
