// The synthetic video-search world: make_world() and the generator's first
// steps (topics, entities, authors). The generative story is documented in
// docs/world.md; the comments here say why each knob has the shape it has.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "funnel/error.h"
#include "gen/generator.h"

namespace funnel {
namespace gen {

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

Generator::Generator(const WorldOptions& o, const PhaseProgressFn& progress)
    : o_(o), v_(detail::embedded_vocab()), rng_(o.seed), progress_(progress) {}

World Generator::run() {
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
  // Last, so that the search part of a world does not depend on its feed.
  if (o_.feed_pages > 0) make_feed();
  w_.query_topic = query_topic_;
  return std::move(w_);
}

// Topic popularity and, within a topic, concept-word popularity are Zipf
// over a shuffled order: some topics and words are much more common.
void Generator::make_topics() {
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

void Generator::make_entities() {
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

void Generator::make_authors() {
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

namespace {

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
  need(o.feed_days >= 2 && o.feed_days <= 3650, "--feed-days must be in 2..3650");
  need(o.feed_dev_days >= 0, "feed_dev_days must be at least 0");
  need(o.feed_test_days >= 1, "feed_test_days must be at least 1");
  need(o.feed_dev_days + o.feed_test_days < o.feed_days,
       "feed_dev_days + feed_test_days must leave at least one training day in --feed-days (" +
           std::to_string(o.feed_dev_days) + " + " + std::to_string(o.feed_test_days) + " of " +
           std::to_string(o.feed_days) + ")");
  need(o.feed_pages <= 100'000'000, "--feed-pages must be at most 100000000");
  need(o.feed_fresh_share >= 0 && o.feed_fresh_share <= 1, "feed_fresh_share must be in 0..1");
  need(o.feed_follows >= 0 && o.feed_follows <= 100, "feed_follows must be in 0..100");
}

}  // namespace
}  // namespace gen

World make_world(const WorldOptions& options, const PhaseProgressFn& progress) {
  WorldOptions o = options;
  if (o.feed_pages == WorldOptions::kFeedPagesAuto) o.feed_pages = 4 * o.users;
  gen::validate(o);
  return gen::Generator(o, progress).run();
}

}  // namespace funnel
