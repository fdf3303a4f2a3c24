// The synthetic world's corpus: docs, their titles, tags and bodies.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "funnel/error.h"
#include "gen/generator.h"

namespace funnel::gen {

// A concept word as a doc or query writes it: mostly the core word,
// sometimes a synonym (the vocabulary mismatch BM25 cannot bridge).
std::string Generator::render(int t, int c, double synonym_rate, bool* used) {
  const auto& syn = v_.topics[t].synonyms[c];
  if (!syn.empty() && rng_.chance(synonym_rate)) {
    if (used) *used = true;
    return syn[rng_.below(syn.size())];
  }
  return v_.topics[t].core[c];
}

void Generator::make_docs() {
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

void Generator::write_doc_text(const WorldDocTruth& tr, Doc& d) {
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

}  // namespace funnel::gen
