// The synthetic world's generator, shared by the files that make each part
// of the world (world.cc, world_docs.cc, world_queries.cc, world_logs.cc,
// world_feed.cc).
// The generative story is documented in docs/world.md. One Generator makes
// one world from one Rng, in a fixed order of draws: moving code between
// these files never changes a world, reordering calls does.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "funnel/world.h"
#include "gen/vocab.h"
#include "util/rng.h"

namespace funnel::gen {
using detail::Rng;
using detail::sigmoid;
using detail::Vocab;

inline constexpr double kEntityDocShare = 0.6;   // docs about a named show/product
inline constexpr int kConceptsPerDoc = 4;
inline constexpr double kShortNameQueries = 0.6;     // entity typed by its first word only
inline constexpr double kOneWordTopicQueries = 0.25; // topic queries of a single word
// Docs that name a popular entity they are not about ("reacting to ...",
// "better than ..."): the name matches, the doc is not relevant.
inline constexpr double kStrayEntityRate = 0.2;
// A feed day in seconds: a feed row's time is day * kFeedDaySeconds + second.
inline constexpr std::int64_t kFeedDaySeconds = 86400;

std::string pad_id(char prefix, std::size_t i, std::size_t n);
std::string capitalise(std::string w);
std::string join(const std::vector<std::string>& words);
// One edit that a hurried typist makes: swap, drop or double a letter.
std::string add_typo(const std::string& w, Rng& rng);

struct Author {
  std::string name;
  std::vector<int> topics;
  double quality_bias;
  double synonym_rate;  // this creator's habit of writing concepts with synonyms
};

using User = WorldUserTruth;

class Generator {
 public:
  Generator(const WorldOptions& o, const PhaseProgressFn& progress);
  World run();

 private:
  // world.cc: the topics, entities and authors everything else draws from.
  void make_topics();
  void make_entities();
  void make_authors();
  // world_docs.cc: the corpus.
  std::string render(int t, int c, double synonym_rate, bool* used = nullptr);
  const std::string& filler() { return v_.filler[rng_.below(v_.filler.size())]; }
  const std::string& connective() { return v_.connective[rng_.below(v_.connective.size())]; }
  void make_docs();
  void write_doc_text(const WorldDocTruth& tr, Doc& d);
  // world_queries.cc: queries, their qrels and the human labels.
  std::string entity_as_typed(WorldQueryTruth& q);
  int grade(const WorldQueryTruth& q, const WorldDocTruth& d) const;
  std::vector<std::pair<int, int>> judge(const WorldQueryTruth& q) const;
  void make_queries();
  void make_human_labels();
  // world_logs.cc: users and the logged impressions with their feedback.
  void make_users();
  void make_impressions();
  std::vector<std::pair<int, int>> make_pool(std::size_t qi);
  Impression feedback(const std::string& rid, std::size_t qi, std::size_t ui, int row, int g, int pos);
  // world_feed.cc: publication times, follows and the feed log.
  void make_feed();
  std::vector<std::vector<int>> make_follows();

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

}  // namespace funnel::gen
