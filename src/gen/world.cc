// The synthetic video-search world. The generative story is documented in
// docs/world.md; the comments here say why each knob has the shape it has.
#include "funnel/world.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "funnel/error.h"
#include "gen/vocab.h"
#include "util/rng.h"

namespace funnel {
using detail::Rng;
using detail::sigmoid;
using detail::Vocab;

namespace {

constexpr double kEntityDocShare = 0.6;   // docs about a named show/product
constexpr int kConceptsPerDoc = 4;
constexpr double kShortNameQueries = 0.6;     // entity typed by its first word only
constexpr double kOneWordTopicQueries = 0.25; // topic queries of a single word
// Docs that name a popular entity they are not about ("reacting to ...",
// "better than ..."): the name matches, the doc is not relevant.
constexpr double kStrayEntityRate = 0.2;

std::string pad_id(char prefix, std::size_t i, std::size_t n) {
  std::size_t width = std::to_string(n).size();
  std::string num = std::to_string(i + 1);
  return std::string(1, prefix) + std::string(width > num.size() ? width - num.size() : 0, '0') + num;
}

std::string capitalise(std::string w) {
  if (!w.empty() && w[0] >= 'a' && w[0] <= 'z') w[0] = static_cast<char>(w[0] - 'a' + 'A');
  return w;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

// One edit that a hurried typist makes: swap, drop or double a letter.
std::string add_typo(const std::string& w, Rng& rng) {
  std::string s = w;
  std::size_t i = 1 + rng.below(s.size() - 2);  // keep the first letter
  switch (rng.below(3)) {
    case 0: std::swap(s[i], s[i + 1 < s.size() ? i + 1 : i - 1]); break;
    case 1: s.erase(i, 1); break;
    default: s.insert(i, 1, s[i]); break;
  }
  return s == w ? w + w.back() : s;
}

struct Author {
  std::string name;
  std::vector<int> topics;
  double quality_bias;
  double synonym_rate;  // this creator's habit of writing concepts with synonyms
};

struct User {
  std::vector<std::pair<int, double>> interests;  // (topic, weight), weights sum to 1
  double like_p, share_p, follow_p, patience;
  double interest(int topic) const {
    for (auto& [t, w] : interests)
      if (t == topic) return w;
    return 0;
  }
};

class Generator {
 public:
  Generator(const WorldOptions& o, const PhaseProgressFn& progress)
      : o_(o), v_(detail::embedded_vocab()), rng_(o.seed), progress_(progress) {}

  World run() {
    w_.options = o_;
    T_ = static_cast<int>(v_.topics.size());
    for (auto& t : v_.topics) w_.topic_names.push_back(t.name);
    make_topics();
    make_entities();
    make_authors();
    make_docs();
    make_queries();
    make_human_labels();
    make_users();
    make_impressions();
    return std::move(w_);
  }

 private:
  // Topic popularity and, within a topic, concept-word popularity are Zipf
  // over a shuffled order: some topics and words are much more common.
  void make_topics() {
    std::vector<int> order(T_);
    std::iota(order.begin(), order.end(), 0);
    shuffle(order);
    std::vector<double> w(T_);
    for (int r = 0; r < T_; ++r) w[order[r]] = 1.0 / std::pow(r + 1.0, 0.6);
    topic_cdf_ = cdf(w);
    word_cdf_.resize(T_);
    for (int t = 0; t < T_; ++t) {
      std::size_t n = v_.topics[t].core.size();
      std::vector<int> ord(n);
      std::iota(ord.begin(), ord.end(), 0);
      shuffle(ord);
      std::vector<double> ww(n);
      for (std::size_t r = 0; r < n; ++r) ww[ord[r]] = 1.0 / std::pow(r + 1.0, 0.7);
      word_cdf_[t] = cdf(ww);
    }
    centroid_.assign(T_, std::vector<double>(o_.image_dim));
    for (auto& c : centroid_)
      for (auto& x : c) x = rng_.normal();
  }

  void make_entities() {
    std::size_t max_names = v_.entity_first.size() * v_.entity_second.size();
    std::size_t E = std::clamp<std::size_t>(o_.docs / 25, 10, max_names / 2);
    std::unordered_set<std::string> seen;
    entity_offset_.resize(E);
    std::vector<double> pop(E);
    for (std::size_t e = 0; e < E; ++e) {
      std::string name;
      do {
        name = capitalise(v_.entity_first[rng_.below(v_.entity_first.size())]) + " " +
               capitalise(v_.entity_second[rng_.below(v_.entity_second.size())]);
      } while (!seen.insert(name).second);
      w_.entity_names.push_back(name);
      std::vector<int> topics{static_cast<int>(rng_.pick_cdf(topic_cdf_))};
      if (rng_.chance(o_.polysemous_share)) {
        int senses = rng_.chance(0.7) ? 2 : 3;
        while (static_cast<int>(topics.size()) < senses) {
          int t = static_cast<int>(rng_.below(T_));
          if (std::find(topics.begin(), topics.end(), t) == topics.end()) topics.push_back(t);
        }
      }
      w_.entity_topics.push_back(topics);
      pop[e] = 1.0 / std::pow(rng_.below(E) + 1.0, 0.9);
      entity_offset_[e].resize(o_.image_dim);
      for (auto& x : entity_offset_[e]) x = 0.6 * rng_.normal();
    }
    entities_of_topic_.resize(T_);
    entity_cdf_of_topic_.resize(T_);
    for (std::size_t e = 0; e < E; ++e)
      for (int t : w_.entity_topics[e]) entities_of_topic_[t].push_back(static_cast<int>(e));
    for (int t = 0; t < T_; ++t) {
      std::vector<double> w;
      for (int e : entities_of_topic_[t]) w.push_back(pop[e]);
      entity_cdf_of_topic_[t] = cdf(w);
    }
    entity_pop_cdf_ = cdf(pop);
  }

  void make_authors() {
    std::size_t A = std::clamp<std::size_t>(o_.docs / 50, 5, v_.author_first.size() * v_.author_second.size() / 2);
    std::unordered_set<std::string> seen;
    std::vector<double> pop(A);
    for (std::size_t a = 0; a < A; ++a) {
      Author au;
      do {
        au.name = capitalise(v_.author_first[rng_.below(v_.author_first.size())]) + " " +
                  capitalise(v_.author_second[rng_.below(v_.author_second.size())]);
      } while (!seen.insert(au.name).second);
      au.topics.push_back(static_cast<int>(rng_.pick_cdf(topic_cdf_)));
      if (rng_.chance(0.4)) {
        int t = static_cast<int>(rng_.pick_cdf(topic_cdf_));
        if (t != au.topics[0]) au.topics.push_back(t);
      }
      au.quality_bias = 0.8 * rng_.normal();
      au.synonym_rate = std::clamp(o_.doc_synonym_rate * (0.4 + 1.2 * rng_.uniform()), 0.0, 1.0);
      authors_.push_back(au);
      pop[a] = 1.0 / std::pow(a + 1.0, 0.8);
    }
    author_cdf_ = cdf(pop);
  }

  // A concept word as a doc or query writes it: mostly the core word,
  // sometimes a synonym (the vocabulary mismatch BM25 cannot bridge).
  std::string render(int t, int c, double synonym_rate, bool* used = nullptr) {
    const auto& syn = v_.topics[t].synonyms[c];
    if (!syn.empty() && rng_.chance(synonym_rate)) {
      if (used) *used = true;
      return syn[rng_.below(syn.size())];
    }
    return v_.topics[t].core[c];
  }
  const std::string& filler() { return v_.filler[rng_.below(v_.filler.size())]; }
  const std::string& connective() { return v_.connective[rng_.below(v_.connective.size())]; }

  void make_docs() {
    const std::size_t N = o_.docs;
    docs_of_topic_.assign(T_, {});
    docs_of_entity_.assign(w_.entity_names.size(), {});
    w_.corpus.docs.reserve(N);
    for (std::size_t i = 0; i < N; ++i) {
      WorldDocTruth tr;
      tr.author = static_cast<int>(rng_.pick_cdf(author_cdf_));
      const Author& au = authors_[tr.author];
      tr.topic = au.topics[rng_.below(au.topics.size())];
      tr.entity = -1;
      if (rng_.chance(kEntityDocShare) && !entities_of_topic_[tr.topic].empty())
        tr.entity = entities_of_topic_[tr.topic][rng_.pick_cdf(entity_cdf_of_topic_[tr.topic])];
      while (static_cast<int>(tr.concepts.size()) < kConceptsPerDoc) {
        int c = static_cast<int>(rng_.pick_cdf(word_cdf_[tr.topic]));
        if (std::find(tr.concepts.begin(), tr.concepts.end(), c) == tr.concepts.end()) tr.concepts.push_back(c);
      }
      tr.vague = rng_.chance(o_.vague_title_share);
      tr.quality = static_cast<float>(sigmoid(authors_[tr.author].quality_bias + 0.8 * rng_.normal()));

      Doc d;
      d.id = pad_id('d', i, N);
      d.author = au.name;
      d.category = rng_.chance(0.6) ? "short" : "long";
      write_doc_text(tr, d);
      d.image_vec.resize(o_.image_dim);
      for (int k = 0; k < o_.image_dim; ++k) {
        double x = centroid_[tr.topic][k] + (tr.entity >= 0 ? entity_offset_[tr.entity][k] : 0.0) +
                   0.7 * rng_.normal();
        d.image_vec[k] = static_cast<float>(std::round(x * 1e4) / 1e4);
      }
      docs_of_topic_[tr.topic].push_back(static_cast<int>(i));
      if (tr.entity >= 0) docs_of_entity_[tr.entity].push_back(static_cast<int>(i));
      w_.corpus.row_of.emplace(d.id, static_cast<std::uint32_t>(i));
      w_.corpus.docs.push_back(std::move(d));
      w_.doc_truth.push_back(std::move(tr));
      if (progress_ && ((i + 1) % 10000 == 0 || i + 1 == N)) progress_("docs", i + 1, N);
    }
    w_.corpus.image_dim = o_.image_dim;
  }

  void write_doc_text(const WorldDocTruth& tr, Doc& d) {
    const int t = tr.topic;
    const std::string ent = tr.entity >= 0 ? w_.entity_names[tr.entity] : "";
    // A doc words each of its concepts one way throughout (a creator's own
    // vocabulary), so a synonym hides the concept from exact word match.
    const double syn_rate = authors_[tr.author].synonym_rate;
    std::vector<std::string> wording;
    for (int c : tr.concepts) wording.push_back(render(t, c, syn_rate));
    auto concept_word = [&](int k, double) { return wording[k]; };
    // A word of the topic that is not one of the doc's concepts (a
    // look-alike for word match), in the creator's usual wording.
    auto background_word = [&] {
      const auto& core_words = v_.topics[t].core;
      int c;
      do c = static_cast<int>(rng_.below(core_words.size()));
      while (std::find(tr.concepts.begin(), tr.concepts.end(), c) != tr.concepts.end());
      return render(t, c, syn_rate);
    };
    if (tr.vague) {
      // "my best video today": the title and text say little; only the
      // image channel (and, for learned models, the author) keep the topic.
      std::vector<std::string> title;
      int n = 3 + static_cast<int>(rng_.below(2));
      for (int k = 0; k < n; ++k) title.push_back(filler());
      d.title = join(title);
      std::vector<std::string> text{connective(), filler(), filler()};
      if (rng_.chance(0.5)) text.push_back(concept_word(0, o_.doc_synonym_rate));
      text.push_back(filler());
      d.text = join(text);
      return;
    }
    // Titles name the doc's main concept and either a second concept or a
    // word of the topic the doc is not about (a look-alike for word match);
    // an entity doc names its entity in most titles, not all.
    std::vector<std::string> title;
    // 60% of titles lead with the main concept; the rest with a secondary
    // one, so what a doc is mainly about is not always in its title.
    const bool main_in_title = rng_.chance(0.6);
    std::string c0 = concept_word(main_in_title ? 0 : 1, 0);
    std::string c1 = main_in_title && rng_.chance(0.5) ? concept_word(1, 0) : background_word();
    if (!ent.empty() && rng_.chance(0.7)) {
      switch (rng_.below(4)) {
        case 0: title = {ent, c0, c1}; break;
        case 1: title = {c0, c1, connective(), ent}; break;
        case 2: title = {ent, c0, filler()}; break;
        default: title = {filler(), ent, c0, c1}; break;
      }
    } else {
      switch (rng_.below(3)) {
        case 0: title = {c0, c1, filler()}; break;
        case 1: title = {filler(), c0, c1}; break;
        default: title = {c0, connective(), c1}; break;
      }
    }
    d.title = join(title);

    // Two or three sentences mixing the doc's concepts, other words of its
    // topic (background), glue words and, rarely, an unrelated entity.
    std::vector<std::string> text;
    int sentences = 2 + static_cast<int>(rng_.below(2));
    for (int s = 0; s < sentences; ++s) {
      std::vector<std::string> sent{connective()};
      int words = 4 + static_cast<int>(rng_.below(4));
      for (int k = 0; k < words; ++k) {
        double r = rng_.uniform();
        if (r < 0.35) sent.push_back(concept_word(static_cast<int>(rng_.below(kConceptsPerDoc)), 0));
        else if (r < 0.65) sent.push_back(background_word());
        else if (r < 0.85) sent.push_back(connective());
        else sent.push_back(filler());
      }
      if (s == 0 && !ent.empty() && rng_.chance(0.7)) sent.push_back(ent);
      text.push_back(join(sent) + ".");
    }
    std::string stray_tag;
    if (rng_.chance(kStrayEntityRate)) {
      int e;
      do e = static_cast<int>(rng_.pick_cdf(entity_pop_cdf_)); while (e == tr.entity);
      const std::string& other = w_.entity_names[e];
      if (rng_.chance(0.5)) {
        d.title += " " + connective() + " " + other;
        stray_tag = other;
      } else {
        text.push_back(connective() + " " + other + ".");
      }
    }
    d.text = join(text);
    if (!d.text.empty()) d.text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(d.text[0])));

    // Tags: the main concept (and often the third), in the doc's wording.
    d.tags.push_back(concept_word(0, o_.doc_synonym_rate / 2));
    if (rng_.chance(0.6)) d.tags.push_back(concept_word(2, o_.doc_synonym_rate / 2));
    if (!ent.empty()) d.tags.push_back(ent);
    if (!stray_tag.empty()) d.tags.push_back(stray_tag);
    if (rng_.chance(0.5)) {
      std::string name = v_.topics[t].name;
      std::replace(name.begin(), name.end(), '_', ' ');
      d.tags.push_back(name);
    }
  }

  // People often type only the first word of a name ("peppa"), which many
  // entities share; the intent is still the one entity they meant.
  std::string entity_as_typed(WorldQueryTruth& q) {
    const std::string& name = w_.entity_names[q.entity];
    if (!rng_.chance(kShortNameQueries)) return name;
    q.short_name = true;
    return name.substr(0, name.find(' '));
  }

  // Relevance grade of a doc for a query, from intent match only.
  int grade(const WorldQueryTruth& q, const WorldDocTruth& d) const {
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

  std::vector<std::pair<int, int>> judge(const WorldQueryTruth& q) const {
    std::vector<std::pair<int, int>> out;
    const std::vector<int>& pool = q.entity >= 0 ? docs_of_entity_[q.entity] : docs_of_topic_[q.topic];
    for (int row : pool)
      if (int g = grade(q, w_.doc_truth[row]); g > 0) out.push_back({row, g});
    return out;
  }

  void make_queries() {
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
  void make_human_labels() {
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

  void make_users() {
    users_.resize(o_.users);
    for (auto& u : users_) {
      int n = 1 + static_cast<int>(rng_.below(3));
      double total = 0;
      while (static_cast<int>(u.interests.size()) < n) {
        int t = static_cast<int>(rng_.pick_cdf(topic_cdf_));
        bool dup = std::any_of(u.interests.begin(), u.interests.end(), [&](auto& p) { return p.first == t; });
        if (dup) continue;
        double w = 0.2 + rng_.uniform();
        u.interests.push_back({t, w});
        total += w;
      }
      for (auto& [t, w] : u.interests) w /= total;
      u.like_p = 0.06 * std::exp(0.6 * rng_.normal());
      u.share_p = 0.012 * std::exp(0.7 * rng_.normal());
      u.follow_p = 0.01 * std::exp(0.7 * rng_.normal());
      u.patience = 0.5 * rng_.normal();
      std::vector<std::string> names;
      for (auto& [t, w] : u.interests) names.push_back(w_.topic_names[t]);
      w_.user_interests.push_back(names);
    }
    std::vector<double> activity(o_.users);
    for (std::size_t i = 0; i < o_.users; ++i) activity[i] = 1.0 / std::pow(rng_.below(o_.users) + 1.0, 0.5);
    user_cdf_ = cdf(activity);
  }

  // The logging ranker: a noisy mix of relevance, quality and the user's
  // interest over a per-query candidate pool; only its top page is shown.
  void make_impressions() {
    const std::size_t Q = w_.queries.size();
    std::vector<std::vector<int>> queries_of_topic(T_);
    for (std::size_t i = 0; i < Q; ++i) queries_of_topic[query_topic_[i]].push_back(static_cast<int>(i));
    std::vector<double> qpop(Q);
    for (auto& x : qpop) x = std::exp(1.0 * rng_.normal());
    std::vector<double> global_cdf = cdf(qpop);
    std::vector<std::vector<double>> topic_qcdf(T_);
    for (int t = 0; t < T_; ++t) {
      std::vector<double> w;
      for (int qi : queries_of_topic[t]) w.push_back(qpop[qi]);
      if (!w.empty()) topic_qcdf[t] = cdf(w);
    }
    std::vector<std::vector<std::pair<int, int>>> pools(Q);  // (row, grade), built on first use
    const std::size_t page = o_.page_size;
    const std::size_t requests = (o_.impressions + page - 1) / page;
    w_.impressions.reserve(o_.impressions);
    std::vector<std::pair<double, std::pair<int, int>>> scored;
    for (std::size_t r = 0; r < requests && w_.impressions.size() < o_.impressions; ++r) {
      std::size_t ui = rng_.pick_cdf(user_cdf_);
      const User& u = users_[ui];
      std::size_t qi;
      int t = -1;
      if (rng_.chance(0.7)) {
        double x = rng_.uniform();
        for (auto& [it, w] : u.interests) { t = it; if ((x -= w) < 0) break; }
      }
      if (t >= 0 && !queries_of_topic[t].empty()) qi = queries_of_topic[t][rng_.pick_cdf(topic_qcdf[t])];
      else qi = rng_.pick_cdf(global_cdf);
      auto& pool = pools[qi];
      if (pool.empty()) pool = make_pool(qi);
      scored.clear();
      for (auto [row, g] : pool) {
        const auto& d = w_.doc_truth[row];
        double s = 1.0 * g + 0.5 * d.quality + 1.0 * u.interest(d.topic) + 0.9 * rng_.normal();
        scored.push_back({s, {row, g}});
      }
      std::size_t n = std::min(page, scored.size());
      std::partial_sort(scored.begin(), scored.begin() + n, scored.end(),
                        [](auto& a, auto& b) { return a.first > b.first; });
      std::string rid = pad_id('r', r, requests);
      for (std::size_t pos = 0; pos < n && w_.impressions.size() < o_.impressions; ++pos) {
        auto [row, g] = scored[pos].second;
        w_.impressions.push_back(feedback(rid, qi, ui, row, g, static_cast<int>(pos)));
      }
      if (progress_ && ((r + 1) % 10000 == 0 || r + 1 == requests))
        progress_("impressions", w_.impressions.size(), o_.impressions);
    }
  }

  std::vector<std::pair<int, int>> make_pool(std::size_t qi) {
    std::vector<std::pair<int, int>> pool;
    std::unordered_set<int> in;
    const auto& rel = relevant_[qi];
    const auto& q = w_.query_truth[qi];
    auto add = [&](int row) {
      if (in.insert(row).second) pool.push_back({row, grade(q, w_.doc_truth[row])});
    };
    for (int k = 0; k < 40 && !rel.empty(); ++k) add(rel[rng_.below(rel.size())].first);
    const auto& same = docs_of_topic_[query_topic_[qi]];
    for (int k = 0; k < 30 && !same.empty(); ++k) add(same[rng_.below(same.size())]);
    for (int k = 0; k < 10; ++k) add(static_cast<int>(rng_.below(o_.docs)));
    return pool;
  }

  // Feedback: the click depends on relevance, position and interest; what
  // follows a click (watch, finish, like, share, follow) depends also on the
  // doc's quality and the user's taste, so relevance and engagement differ.
  Impression feedback(const std::string& rid, std::size_t qi, std::size_t ui, int row, int g, int pos) {
    const User& u = users_[ui];
    const auto& d = w_.doc_truth[row];
    const bool short_video = w_.corpus.docs[row].category == "short";
    double interest = u.interest(d.topic);
    Impression im;
    im.request_id = rid;
    im.query_id = w_.queries[qi].id;
    im.user_id = pad_id('u', ui, o_.users);
    im.doc_id = w_.corpus.docs[row].id;
    im.position = pos;
    double examine = 1.0 / std::pow(1.0 + pos, 0.9);
    double attract = sigmoid(-2.6 + 1.1 * g + 2.0 * interest + (short_video ? 0.2 : 0.0));
    im.click = rng_.chance(examine * attract);
    if (im.click) {
      double w = sigmoid(-0.2 + 3.0 * (d.quality - 0.5) + 1.5 * interest + 0.25 * g + u.patience +
                         (short_video ? 0.8 : -0.4) + 0.6 * rng_.normal());
      im.watch = static_cast<float>(std::round(w * 1000) / 1000);
      im.finish = im.watch >= 0.9f;
      im.like = rng_.chance(std::min(1.0, u.like_p * (0.2 + 1.8 * d.quality) * (0.5 + interest) * 2 * w));
      im.share = rng_.chance(std::min(1.0, u.share_p * 3 * d.quality * d.quality * (0.5 + interest)));
      im.follow = rng_.chance(std::min(1.0, u.follow_p * (0.2 + 1.6 * d.quality) * 2 * w));
    }
    return im;
  }

  template <class V>
  void shuffle(V& v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng_.below(i)]);
  }
  static std::vector<double> cdf(const std::vector<double>& w) {
    std::vector<double> c(w.size());
    double acc = 0;
    for (std::size_t i = 0; i < w.size(); ++i) c[i] = acc += w[i];
    return c;
  }

  const WorldOptions& o_;
  const Vocab& v_;
  Rng rng_;
  PhaseProgressFn progress_;
  World w_;
  int T_ = 0;
  std::vector<double> topic_cdf_;
  std::vector<std::vector<double>> word_cdf_;
  std::vector<std::vector<double>> centroid_;
  std::vector<std::vector<double>> entity_offset_;
  std::vector<std::vector<int>> entities_of_topic_;
  std::vector<std::vector<double>> entity_cdf_of_topic_;
  std::vector<double> entity_pop_cdf_;
  std::vector<Author> authors_;
  std::vector<double> author_cdf_;
  std::vector<std::vector<int>> docs_of_topic_, docs_of_entity_;
  std::vector<std::vector<std::pair<int, int>>> relevant_;
  std::vector<int> query_topic_;
  std::vector<User> users_;
  std::vector<double> user_cdf_;
};

void validate(const WorldOptions& o) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw Error("world options: " + what);
  };
  need(o.docs >= 100 && o.docs <= 50'000'000, "--docs must be in 100..50000000");
  need(o.queries >= 10 && o.queries <= 10'000'000, "--queries must be in 10..10000000");
  need(o.users >= 1 && o.users <= 100'000'000, "--users must be in 1..100000000");
  need(o.impressions <= 1'000'000'000, "--impressions must be at most 1000000000");
  need(o.image_dim >= 1 && o.image_dim <= 4096, "image_dim must be in 1..4096");
  need(o.page_size >= 1 && o.page_size <= 100, "page_size must be in 1..100");
  for (double p : {o.polysemous_share, o.doc_synonym_rate, o.query_synonym_rate, o.vague_title_share,
                   o.typo_rate, o.reorder_rate, o.human_label_share, o.label_noise})
    need(p >= 0 && p <= 1, "rates and shares must be in 0..1");
  need(o.train_share >= 0 && o.dev_share >= 0 && o.train_share + o.dev_share <= 1,
       "train_share + dev_share must be at most 1");
}

}  // namespace

World make_world(const WorldOptions& options, const PhaseProgressFn& progress) {
  validate(options);
  return Generator(options, progress).run();
}

}  // namespace funnel
