// The synthetic world's queries, their qrels and the human labels.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "funnel/error.h"
#include "gen/generator.h"

namespace funnel::gen {

// People often type only the first word of a name ("peppa"), which many
// entities share; the intent is still the one entity they meant.
std::string Generator::entity_as_typed(WorldQueryTruth& q) {
  const std::string& name = w_.entity_names[q.entity];
  if (!rng_.chance(kShortNameQueries)) return name;
  q.short_name = true;
  return name.substr(0, name.find(' '));
}

// Relevance grade of a doc for a query, from intent match only.
int Generator::grade(const WorldQueryTruth& q, const WorldDocTruth& d) const {
  auto has = [&](int c) { return std::find(d.concepts.begin(), d.concepts.end(), c) != d.concepts.end(); };
  if (q.intent == "entity") return d.entity == q.entity ? 3 : 0;
  if (q.intent == "entity_topic") {
    if (d.entity != q.entity) return 0;
    if (d.topic != q.topic) return 1;  // the entity's other sense
    return has(q.concepts[0]) ? 3 : 2;
  }
  if (d.topic != q.topic) return 0;
  // A doc is about its main concept (concepts[0]) first; the others are
  // secondary. Word match cannot see which is which.
  const int main = d.concepts[0];
  if (q.concepts.size() == 1) return main == q.concepts[0] ? 3 : has(q.concepts[0]) ? 2 : 0;
  bool h0 = has(q.concepts[0]), h1 = has(q.concepts[1]);
  bool on_main = main == q.concepts[0] || main == q.concepts[1];
  if (h0 && h1) return on_main ? 3 : 2;
  if (on_main) return 2;  // about one of the two words, without the other
  if (h0 || h1) return 1;
  return 0;
}

std::vector<std::pair<int, int>> Generator::judge(const WorldQueryTruth& q) const {
  std::vector<std::pair<int, int>> out;
  const std::vector<int>& pool = q.entity >= 0 ? docs_of_entity_[q.entity] : docs_of_topic_[q.topic];
  for (int row : pool)
    if (int g = grade(q, w_.doc_truth[row]); g > 0) out.push_back({row, g});
  return out;
}

void Generator::make_queries() {
  const std::size_t Q = o_.queries;
  std::set<std::tuple<std::string, int, int, int, int>> seen;
  std::unordered_set<std::string> seen_text;
  query_topic_.reserve(Q);
  for (std::size_t i = 0; i < Q; ++i) {
    WorldQueryTruth q;
    std::vector<std::pair<int, int>> rel;
    std::vector<std::string> words;
    std::string text;
    // The intent is drawn once, so that retries (for a duplicate or an
    // unanswerable query) do not shift the intent mix.
    const double r = rng_.uniform();
    for (int attempt = 0;; ++attempt) {
      q = WorldQueryTruth{};
      words.clear();
      // Past 50 attempts, sample entities uniformly so rare ones fill in.
      auto pick_entity = [&] {
        return attempt < 50 ? static_cast<int>(rng_.pick_cdf(entity_pop_cdf_))
                            : static_cast<int>(rng_.below(w_.entity_names.size()));
      };
      if (r < 0.25) {
        q.intent = "entity";
        q.topic = -1;
        q.entity = pick_entity();
        words.push_back(entity_as_typed(q));
      } else if (r < 0.5) {
        q.intent = "entity_topic";
        q.entity = pick_entity();
        const auto& ts = w_.entity_topics[q.entity];
        q.topic = ts[rng_.below(ts.size())];
        int c = static_cast<int>(rng_.pick_cdf(word_cdf_[q.topic]));
        q.concepts = {c};
        words = {entity_as_typed(q), render(q.topic, c, o_.query_synonym_rate, &q.synonym)};
      } else {
        q.intent = "topic";
        q.entity = -1;
        q.topic = static_cast<int>(rng_.pick_cdf(topic_cdf_));
        int c0 = static_cast<int>(rng_.pick_cdf(word_cdf_[q.topic])), c1;
        do c1 = static_cast<int>(rng_.pick_cdf(word_cdf_[q.topic])); while (c1 == c0);
        q.concepts = {c0, c1};
        words = {render(q.topic, c0, o_.query_synonym_rate, &q.synonym),
                 render(q.topic, c1, o_.query_synonym_rate, &q.synonym)};
        if (rng_.chance(kOneWordTopicQueries)) {  // "pasta": one word, broad
          q.concepts.pop_back();
          words.pop_back();
        }
        if (rng_.chance(0.15)) words.insert(words.begin(), filler());
      }
      // Surface noise: reordered words and one typo.
      if (words.size() > 1 && rng_.chance(o_.reorder_rate)) {
        std::reverse(words.begin(), words.end());
        q.reordered = true;
      }
      text = join(words);
      for (char& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (rng_.chance(o_.typo_rate)) {
        // Typo in one word of four letters or more (shorter words have
        // too few letters to misspell recognisably).
        std::vector<std::string> toks;
        std::string tok;
        for (char ch : text + " ") {
          if (ch == ' ') { if (!tok.empty()) toks.push_back(tok); tok.clear(); }
          else tok += ch;
        }
        std::vector<std::size_t> long_ones;
        for (std::size_t k = 0; k < toks.size(); ++k)
          if (toks[k].size() >= 4) long_ones.push_back(k);
        if (!long_ones.empty()) {
          std::size_t k = long_ones[rng_.below(long_ones.size())];
          toks[k] = add_typo(toks[k], rng_);
          q.typo = true;
          text = join(toks);
        }
      }
      // One intent per typed text: the same words never carry two
      // different sets of judgments. Concepts are compared as a set.
      std::vector<int> cs = q.concepts;
      std::sort(cs.begin(), cs.end());
      auto key = std::make_tuple(q.intent, q.entity * 2 + q.short_name, q.topic,
                                 cs.empty() ? -1 : cs[0], cs.size() < 2 ? -1 : cs[1]);
      if ((seen.count(key) || seen_text.count(text)) && attempt < 1000) continue;
      rel = judge(q);
      if (rel.empty() && attempt < 1000) continue;
      seen.insert(key);
      seen_text.insert(text);
      break;
    }
    double u = rng_.uniform();
    q.split = u < o_.train_share ? "train" : u < o_.train_share + o_.dev_share ? "dev" : "test";
    std::string qid = pad_id('q', i, Q);
    auto& judged = w_.qrels[qid];
    for (auto [row, g] : rel) judged.emplace(w_.corpus.docs[row].id, g);
    relevant_.push_back(std::move(rel));
    query_topic_.push_back(q.topic >= 0 ? q.topic : w_.entity_topics[q.entity][0]);
    w_.queries.push_back({qid, text});
    w_.query_truth.push_back(std::move(q));
    if (progress_ && ((i + 1) % 1000 == 0 || i + 1 == Q)) progress_("queries", i + 1, Q);
  }
}

// Annotators judge a few relevant docs and a few look-alikes (same topic)
// per labelled query, and are sometimes off by one grade.
void Generator::make_human_labels() {
  for (std::size_t i = 0; i < w_.queries.size(); ++i) {
    if (!rng_.chance(o_.human_label_share)) continue;
    const auto& q = w_.query_truth[i];
    std::vector<int> rows;
    const auto& rel = relevant_[i];
    for (int k = 0; k < 8 && !rel.empty(); ++k) rows.push_back(rel[rng_.below(rel.size())].first);
    const auto& same = docs_of_topic_[query_topic_[i]];
    for (int k = 0; k < 8 && !same.empty(); ++k) rows.push_back(same[rng_.below(same.size())]);
    for (int k = 0; k < 4; ++k) rows.push_back(static_cast<int>(rng_.below(o_.docs)));
    auto& labels = w_.human_labels[w_.queries[i].id];
    for (int row : rows) {
      int g = grade(q, w_.doc_truth[row]);
      if (rng_.chance(o_.label_noise)) g = g == 0 ? 1 : g == 3 ? 2 : g + (rng_.chance(0.5) ? 1 : -1);
      labels.emplace(w_.corpus.docs[row].id, g);  // first judgment of a doc wins
    }
  }
}

}  // namespace funnel::gen
