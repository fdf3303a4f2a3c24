// funnel::train::train_fusion: the learned fusion stages' trainer.
#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "funnel/data.h"
#include "funnel/engine.h"
#include "funnel/error.h"
#include "funnel/metrics.h"
#include "funnel/train.h"
#include "fusion/fusion_inputs.h"
#include "fusion/gbdt.h"
#include "fusion/learned_stages.h"
#include "fusion/pairwise_ltr.h"
#include "util/fs.h"
#include "util/hash.h"

namespace funnel::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// One logged request: its query and the shown rows with their outcomes.
struct Logged {
  std::string id, query;
  std::vector<std::uint32_t> rows;
  std::vector<Impression> shown;  // the logged outcomes, one per row
};

float outcome(const Impression& im, const std::string& objective) {
  if (objective == "click") return im.click;
  if (objective == "watch") return im.watch;
  if (objective == "finish") return im.finish;
  if (objective == "like") return im.like;
  if (objective == "share") return im.share;
  if (objective == "follow") return im.follow;
  throw Error("fit --stage fusion: unknown objective '" + objective +
              "' (known: click, watch, finish, like, share, follow)");
}

std::vector<Logged> logged_requests(const Index& index, const fs::path& data, const std::string& split,
                                    std::size_t max_requests) {
  const auto queries = read_queries(data / "queries.jsonl");
  const Qrels qrels = load_qrels(data, split);
  std::unordered_map<std::string, const Query*> in_split;
  for (const auto& q : queries)
    if (qrels.count(q.id)) in_split[q.id] = &q;
  const fs::path imp = data / "impressions.jsonl";
  if (!fs::exists(imp)) throw Error(imp.string() + ": not found (the learned fusion trains on logged impressions)");
  const std::vector<Impression> impressions = read_impressions(imp);
  std::unordered_map<std::string, std::uint32_t> row_of;
  for (std::uint32_t r = 0; r < index.size(); ++r) row_of.emplace(index.doc_id(r), r);
  std::map<std::string, Logged> by_id;
  for (const auto& im : impressions) {
    auto q = in_split.find(im.query_id);
    auto row = row_of.find(im.doc_id);
    if (q == in_split.end() || row == row_of.end()) continue;
    Logged& l = by_id[im.request_id];
    l.id = im.request_id;
    l.query = q->second->text;
    l.rows.push_back(row->second);
    l.shown.push_back(im);
  }
  std::vector<Logged> out;
  for (auto& [id, l] : by_id) out.push_back(std::move(l));
  if (out.empty())
    throw Error(imp.string() + ": no logged request of a '" + split + "' query with docs of the index");
  if (max_requests && out.size() > max_requests) out.resize(max_requests);
  return out;
}

std::vector<std::string> input_names(const Index& index, const Candidate& scored) {
  std::vector<std::string> names = {"score"};
  if (!scored.pxtr_names) throw Error("fit --stage fusion: the rank stage gave no pXtr");
  for (const auto& p : *scored.pxtr_names) names.push_back(p);
  for (const auto& c : index.category_names())
    if (!c.empty()) names.push_back("category=" + c);
  names.push_back("query_terms");
  return names;
}

}  // namespace

FusionTrainResult train_fusion(const fs::path& index_dir, const fs::path& cascade_file, const fs::path& data_dir,
                               const fs::path& models_arg, const FusionTrainOptions& o, const LogFn& log) {
  auto say = [&](const std::string& s) {
    if (log) log(s);
  };
  if (o.method != "gbdt" && o.method != "ltr")
    throw Error("fit --stage fusion: --method must be gbdt or ltr, got '" + o.method + "'");
  const Engine engine = Engine::from_files(index_dir, cascade_file);
  const Pipeline& p = engine.pipeline();
  std::size_t rank = p.size();
  for (std::size_t s = 0; s < p.size(); ++s)
    if (p.stage_role(s) == StageRole::kRank) rank = s;
  if (rank == p.size()) throw Error(cascade_file.string() + ": no rank stage to give the fusion its inputs");
  const fs::path models = models_arg.empty() ? fs::path(engine.index().models_dir()) : models_arg;
  if (models.empty()) throw Error("fit --stage fusion: no models folder (give --out)");

  const auto requests = logged_requests(engine.index(), data_dir, o.split, o.max_requests);
  say("fit: fusion (" + o.method + ") on " + std::to_string(requests.size()) + " logged '" + o.split + "' requests");
  std::vector<std::string> objectives;
  std::vector<double> lambda;
  for (const auto& [name, w] : o.objective_weights) {
    if (!(w >= 0) || !std::isfinite(w)) throw Error("fit --stage fusion: objective weight of '" + name + "' must be >= 0");
    objectives.push_back(name);
    lambda.push_back(w);
  }

  std::vector<std::string> names;
  std::vector<float> x, outcomes, score_col;
  std::vector<std::uint32_t> group;
  std::vector<char> valid;
  for (std::size_t r = 0; r < requests.size(); ++r) {
    const Logged& l = requests[r];
    Request req;
    req.query = l.query;
    req.k = l.rows.size();
    const auto cands = p.score_candidates(rank, req, l.rows);
    if (names.empty()) names = input_names(engine.index(), cands[0]);
    const auto f = fusion::fusion_features(engine.index(), req, cands, names, "fit --stage fusion");
    x.insert(x.end(), f.begin(), f.end());
    const bool held_out = detail::stable_hash(l.id) % 5 == 0;
    for (std::size_t i = 0; i < cands.size(); ++i) {
      for (const auto& ob : objectives) outcomes.push_back(outcome(l.shown[i], ob));
      group.push_back(static_cast<std::uint32_t>(r));
      valid.push_back(held_out);
      score_col.push_back(static_cast<float>(cands[i].score));
    }
    if ((r + 1) % 1000 == 0) say("fit: scored " + std::to_string(r + 1) + " requests with the rank stage");
  }
  const std::size_t m = names.size(), n = group.size(), k = objectives.size();
  // Train and held-out rows (whole requests).
  auto take = [&](bool want, std::vector<float>& xs, std::vector<float>& os, std::vector<std::uint32_t>& gs) {
    for (std::size_t i = 0; i < n; ++i)
      if (static_cast<bool>(valid[i]) == want) {
        xs.insert(xs.end(), x.begin() + static_cast<std::ptrdiff_t>(i * m), x.begin() + static_cast<std::ptrdiff_t>((i + 1) * m));
        os.insert(os.end(), outcomes.begin() + static_cast<std::ptrdiff_t>(i * k), outcomes.begin() + static_cast<std::ptrdiff_t>((i + 1) * k));
        gs.push_back(group[i]);
      }
  };
  std::vector<float> xt, ot, xv, ov;
  std::vector<std::uint32_t> gt, gv;
  take(false, xt, ot, gt);
  take(true, xv, ov, gv);
  if (gt.empty() || gv.empty()) throw Error("fit --stage fusion: too few logged requests to hold some out");
  const std::size_t click = std::find(objectives.begin(), objectives.end(), "click") - objectives.begin();

  FusionTrainResult res;
  res.requests = requests.size();
  res.rows = n;
  std::vector<float> learned_valid;
  fs::create_directories(models / "fusion");
  if (o.method == "gbdt") {
    // label = click; a click weighs 1 + the weighted engagement after it.
    auto labels_weights = [&](const std::vector<float>& os, std::vector<float>& labels, std::vector<float>& weights) {
      for (std::size_t i = 0; i < os.size() / k; ++i) {
        const float c = click < k ? os[i * k + click] : 0.0f;
        float w = 1;
        if (c > 0)
          for (std::size_t j = 0; j < k; ++j)
            if (j != click) w += static_cast<float>(lambda[j]) * os[i * k + j];
        labels.push_back(c > 0 ? 1.0f : 0.0f);
        weights.push_back(w);
      }
    };
    std::vector<float> lt, wt, lv, wv;
    labels_weights(ot, lt, wt);
    labels_weights(ov, lv, wv);
    fusion::GbdtParams gp;
    gp.rounds = o.rounds;
    gp.max_depth = o.max_depth;
    gp.eta = o.eta;
    gp.seed = o.seed;
    const fusion::GbdtData train{xt, gt.size(), m, lt, wt, {}}, hold{xv, gv.size(), m, lv, wv, {}};
    auto model = fusion::GbdtModel::train(train, &hold, names, gp, [&](int round, double tl, double vl) {
      if ((round + 1) % 50 == 0) say("fit: round " + std::to_string(round + 1) + " train loss " + std::to_string(tl) +
                                     " held-out loss " + std::to_string(vl));
    });
    res.file = fusion::gbdt_file(models);
    model.save(res.file);
    res.importance = model.importance("total_gain");
    learned_valid = model.predict(xv, gv.size(), true);
  } else {
    fusion::LtrOptions lo;
    lo.objective_weights = lambda;
    const fusion::LtrData data{xt, gt.size(), m, gt, ot, k};
    const auto model = fusion::train_pairwise_ltr(data, lo, [&](int it, double loss) {
      if (it % 20 == 0) say("fit: iteration " + std::to_string(it) + " pairwise loss " + std::to_string(loss));
    });
    res.file = fusion::ltr_file(models);
    json ow = json::object();
    for (std::size_t j = 0; j < k; ++j) ow[objectives[j]] = lambda[j];
    detail::AtomicFile f(res.file);
    f.stream() << json{{"features", names}, {"ltr", fusion::ltr_to_json(model)}, {"objective_weights", ow},
                       {"trained", {{"split", o.split}, {"requests", res.requests}}}}
                      .dump(2)
               << '\n';
    f.commit();
    for (std::size_t j = 0; j < m; ++j) res.importance.emplace_back(names[j], std::abs(model.weights[j] * model.scale[j]));
    std::stable_sort(res.importance.begin(), res.importance.end(), [](auto& a, auto& b) { return a.second > b.second; });
    for (std::size_t i = 0; i < gv.size(); ++i)
      learned_valid.push_back(static_cast<float>(fusion::ltr_score(model, std::span<const float>(xv.data() + i * m, m))));
  }
  // Held-out click GAUC, the learned fusion against the rank score alone.
  if (click < k) {
    std::vector<float> labels, rank_scores;
    std::vector<std::uint64_t> groups;
    for (std::size_t i = 0; i < gv.size(); ++i) {
      labels.push_back(ov[i * k + click]);
      rank_scores.push_back(xv[i * m]);  // names[0] is "score"
      groups.push_back(gv[i]);
    }
    res.valid_gauc = metrics::gauc(learned_valid, labels, groups);
    res.valid_gauc_rank = metrics::gauc(rank_scores, labels, groups);
  }
  say("fit: wrote " + res.file.string());
  return res;
}

}  // namespace funnel::train
