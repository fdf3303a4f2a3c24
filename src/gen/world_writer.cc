// Writes a World in the BEIR layout plus logs (docs/formats.md).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "funnel/error.h"
#include "funnel/interactions.h"
#include "funnel/world.h"
#include "gen/generator.h"
#include "util/fs.h"

namespace funnel {
namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

constexpr int kWorldFormatVersion = 1;

// A feed row's engagement grade (feed.json "grade"): any action but a
// partial watch.
const std::vector<std::pair<std::string, int>> kFeedGrade = {
    {"click", 1}, {"finish", 1}, {"like", 1}, {"share", 1}, {"follow", 1}};

void write_qrels(const fs::path& path, const World& w, const Qrels& qrels,
                 const std::string* split) {
  detail::AtomicFile f(path);
  auto& out = f.stream();
  out << "query-id\tcorpus-id\tscore\n";
  for (std::size_t i = 0; i < w.queries.size(); ++i) {
    if (split && w.query_truth[i].split != *split) continue;
    auto it = qrels.find(w.queries[i].id);
    if (it == qrels.end()) continue;
    // Corpus order, so the file is the same for the same seed.
    std::vector<std::pair<std::uint32_t, int>> rows;
    for (auto& [doc, g] : it->second) rows.push_back({w.corpus.row_of.at(doc), g});
    std::sort(rows.begin(), rows.end());
    for (auto [row, g] : rows) out << w.queries[i].id << '\t' << w.corpus.docs[row].id << '\t' << g << '\n';
  }
  f.commit();
}

}  // namespace

namespace {

// The feed's split by day: [0, dev_from) train, [dev_from, test_from) dev,
// the rest test.
std::pair<std::int64_t, std::int64_t> feed_split(const WorldOptions& o) {
  return {gen::kFeedDaySeconds * (o.feed_days - o.feed_dev_days - o.feed_test_days),
          gen::kFeedDaySeconds * (o.feed_days - o.feed_test_days)};
}

// DIR/feed/interactions.tsv and DIR/feed/feed.json: the feed log and its split.
void write_feed(const World& w, const fs::path& dir) {
  const WorldOptions& o = w.options;
  const auto [dev_from, test_from] = feed_split(o);
  fs::create_directory(dir / "feed");
  write_interactions_tsv(dir / "feed" / "interactions.tsv", w.feed, w.corpus);
  ordered_json j = {
      {"log", "interactions.tsv"},
      {"split", {{"dev_from", dev_from}, {"test_from", test_from}}},
      {"grade", ordered_json::object()},
      {"exclude", "engaged"},
      {"days",
       {{"day_seconds", gen::kFeedDaySeconds}, {"days", o.feed_days},
        {"train_days", o.feed_days - o.feed_dev_days - o.feed_test_days}, {"dev_days", o.feed_dev_days},
        {"test_days", o.feed_test_days}}}};
  for (const auto& [signal, weight] : kFeedGrade) j["grade"][signal] = weight;
  detail::AtomicFile f(dir / "feed" / "feed.json");
  f.stream() << j.dump(2) << '\n';
  f.commit();
}

}  // namespace

void write_world(const World& w, const fs::path& out, bool overwrite) {
  detail::StagingDir stage(out, overwrite);
  const fs::path dir = stage.path();
  {
    detail::AtomicFile f(dir / "corpus.jsonl");
    std::vector<double> vec;
    for (const Doc& d : w.corpus.docs) {
      // Through double, rounded to 4 decimals, so the file shows "0.1234"
      // rather than the float's long binary expansion.
      vec.assign(d.image_vec.size(), 0.0);
      for (std::size_t k = 0; k < vec.size(); ++k) vec[k] = std::round(double(d.image_vec[k]) * 1e4) / 1e4;
      ordered_json j = {{"id", d.id}, {"title", d.title}, {"text", d.text}, {"tags", d.tags},
                        {"author", d.author}, {"category", d.category}};
      if (d.published) j["published"] = *d.published;
      j["image_vec"] = vec;
      f.stream() << j.dump() << '\n';
    }
    f.commit();
  }
  {
    detail::AtomicFile f(dir / "queries.jsonl");
    for (const Query& q : w.queries) f.stream() << ordered_json{{"id", q.id}, {"text", q.text}}.dump() << '\n';
    f.commit();
  }
  fs::create_directory(dir / "qrels");
  for (std::string split : {"train", "dev", "test"}) write_qrels(dir / "qrels" / (split + ".tsv"), w, w.qrels, &split);
  write_qrels(dir / "human_labels.tsv", w, w.human_labels, nullptr);
  {
    detail::AtomicFile f(dir / "users.jsonl");
    for (std::size_t i = 0; i < w.user_interests.size(); ++i) {
      const std::string id = gen::pad_id('u', i, w.user_interests.size());
      f.stream() << ordered_json{{"id", id}, {"interests", w.user_interests[i]}}.dump() << '\n';
    }
    f.commit();
  }
  {
    detail::AtomicFile f(dir / "impressions.jsonl");
    auto& o = f.stream();
    char watch[32];
    for (const Impression& im : w.impressions) {
      std::snprintf(watch, sizeof watch, "%.3f", im.watch);
      o << "{\"request_id\":\"" << im.request_id << "\",\"query_id\":\"" << im.query_id
        << "\",\"user_id\":\"" << im.user_id << "\",\"doc_id\":\"" << im.doc_id
        << "\",\"position\":" << im.position << ",\"click\":" << im.click << ",\"watch\":" << watch
        << ",\"finish\":" << im.finish << ",\"like\":" << im.like << ",\"share\":" << im.share
        << ",\"follow\":" << im.follow << "}\n";
    }
    f.commit();
  }
  const WorldOptions& o = w.options;
  const bool has_feed = o.feed_pages > 0;
  const auto [dev_from, test_from] = feed_split(o);
  if (has_feed) write_feed(w, dir);
  {
    // Summary statistics, so a reader can see what the world contains
    // without reading the generator.
    std::map<std::string, std::size_t> intents, per_split_queries, per_split_qrels;
    std::size_t typos = 0, reordered = 0, synonyms = 0, vague = 0, polysemous = 0;
    for (std::size_t i = 0; i < w.query_truth.size(); ++i) {
      const auto& q = w.query_truth[i];
      ++intents[q.intent];
      ++per_split_queries[q.split];
      per_split_qrels[q.split] += w.qrels.count(w.queries[i].id) ? w.qrels.at(w.queries[i].id).size() : 0;
      typos += q.typo;
      reordered += q.reordered;
      synonyms += q.synonym;
    }
    for (const auto& d : w.doc_truth) vague += d.vague;
    for (const auto& t : w.entity_topics) polysemous += t.size() > 1;
    std::size_t clicks = 0;
    for (const auto& im : w.impressions) clicks += im.click;
    ordered_json j = {
        {"format_version", kWorldFormatVersion},
        {"generator", "funnel gen"},
        {"options",
         {{"docs", o.docs}, {"queries", o.queries}, {"users", o.users}, {"impressions", o.impressions},
          {"seed", o.seed}, {"image_dim", o.image_dim}, {"page_size", o.page_size},
          {"polysemous_share", o.polysemous_share}, {"doc_synonym_rate", o.doc_synonym_rate},
          {"query_synonym_rate", o.query_synonym_rate}, {"vague_title_share", o.vague_title_share},
          {"typo_rate", o.typo_rate}, {"reorder_rate", o.reorder_rate},
          {"human_label_share", o.human_label_share}, {"label_noise", o.label_noise},
          {"train_share", o.train_share}, {"dev_share", o.dev_share}, {"feed_days", o.feed_days},
          {"feed_dev_days", o.feed_dev_days}, {"feed_test_days", o.feed_test_days}, {"feed_pages", o.feed_pages},
          {"feed_fresh_share", o.feed_fresh_share}, {"feed_follows", o.feed_follows}}},
        {"files",
         {{"corpus", "corpus.jsonl"}, {"queries", "queries.jsonl"},
          {"qrels", {"qrels/train.tsv", "qrels/dev.tsv", "qrels/test.tsv"}},
          {"human_labels", "human_labels.tsv"}, {"impressions", "impressions.jsonl"},
          {"users", "users.jsonl"}}},
        {"topics", w.topic_names},
        {"stats",
         {{"entities", w.entity_names.size()}, {"polysemous_entities", polysemous},
          {"vague_docs", vague}, {"query_intents", intents}, {"queries_per_split", per_split_queries},
          {"qrels_per_split", per_split_qrels}, {"typo_queries", typos}, {"reordered_queries", reordered},
          {"synonym_queries", synonyms}, {"human_label_queries", w.human_labels.size()},
          {"impressions", w.impressions.size()}, {"clicks", clicks}}}};
    if (has_feed) {
      j["files"]["feed"] = {{"meta", "feed/feed.json"}, {"log", "feed/interactions.tsv"}};
      // Per part (train, dev, test): rows, clicks, engaged rows (grade > 0)
      // and, of those, the ones on docs published in the same part.
      const int click = w.feed.signal_index("click"), follow = w.feed.signal_index("follow");
      std::vector<int> graded;
      for (const auto& g : kFeedGrade) graded.push_back(w.feed.signal_index(g.first));
      std::size_t rows[3] = {}, part_clicks[3] = {}, engaged[3] = {}, engaged_new[3] = {}, follows = 0;
      auto part_of = [&](std::int64_t t) { return t < dev_from ? 0 : t < test_from ? 1 : 2; };
      for (std::size_t i = 0; i < w.feed.rows.size(); ++i) {
        const int p = part_of(w.feed.rows[i].time);
        ++rows[p];
        part_clicks[p] += w.feed.signal(i, click) > 0;
        follows += w.feed.signal(i, follow) > 0;
        bool e = false;
        for (int s : graded) e |= w.feed.signal(i, s) > 0;
        if (!e) continue;
        ++engaged[p];
        const std::int64_t pub = w.doc_published[w.feed.rows[i].item];
        engaged_new[p] += pub >= 0 && part_of(pub) == p;
      }
      std::size_t start_follows = 0, fresh = 0;
      for (const auto& u : w.user_truth) start_follows += u.follows.size();
      for (std::int64_t t : w.doc_published) fresh += t >= 0;
      ordered_json parts;
      const char* names[3] = {"train", "dev", "test"};
      for (int p = 0; p < 3; ++p)
        parts[names[p]] = {{"rows", rows[p]}, {"clicks", part_clicks[p]}, {"engaged", engaged[p]},
                           {"engaged_on_docs_published_in_part", engaged_new[p]}};
      j["stats"]["feed"] = {{"rows", w.feed.rows.size()}, {"users", w.feed.user_ids.size()},
                            {"docs_published_in_feed_days", fresh}, {"follows_at_start", start_follows},
                            {"follows", follows}, {"parts", parts}};
    }
    detail::AtomicFile f(dir / "world.json");
    f.stream() << j.dump(2) << '\n';
    f.commit();
  }
  stage.commit();
}

}  // namespace funnel
