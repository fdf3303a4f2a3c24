#include "recall/rm3.h"

#include <algorithm>
#include <unordered_map>

namespace funnel::recall {

std::vector<WeightedTerm> rm3_expansion(const std::vector<FeedbackDoc>& docs, int terms,
                                        const std::function<double(const std::string&)>& doc_share) {
  if (terms <= 0) return {};
  double total_score = 0;
  for (const auto& d : docs)
    if (d.length > 0 && d.score > 0) total_score += d.score;
  if (total_score <= 0) return {};
  std::unordered_map<std::string, double> p;
  std::unordered_map<std::string, bool> allowed;
  for (const auto& d : docs) {
    if (d.length <= 0 || d.score <= 0) continue;
    const double doc_weight = d.score / total_score;
    for (const auto& t : d.terms) {
      auto [it, fresh] = allowed.try_emplace(t.term, false);
      if (fresh) it->second = doc_share(t.term) <= kRm3MaxDocShare;
      if (it->second) p[t.term] += t.weight / d.length * doc_weight;
    }
  }
  std::vector<WeightedTerm> out;
  out.reserve(p.size());
  for (auto& [t, w] : p) out.push_back({t, w});
  std::sort(out.begin(), out.end(),
            [](const WeightedTerm& a, const WeightedTerm& b) { return a.weight != b.weight ? a.weight > b.weight : a.term < b.term; });
  if (out.size() > static_cast<std::size_t>(terms)) out.resize(static_cast<std::size_t>(terms));
  double sum = 0;
  for (const auto& t : out) sum += t.weight;
  if (sum <= 0) return {};
  for (auto& t : out) t.weight /= sum;
  return out;
}

std::vector<WeightedTerm> rm3_expansion(const Xapian::Database& db,
                                        const std::vector<std::pair<std::uint32_t, double>>& hits, int terms) {
  std::vector<FeedbackDoc> docs;
  for (const auto& [row, score] : hits) {
    const Xapian::docid id = static_cast<Xapian::docid>(row + 1);
    FeedbackDoc d;
    d.score = score;
    d.length = static_cast<double>(db.get_doclength(id));
    for (auto t = db.termlist_begin(id); t != db.termlist_end(id); ++t)
      d.terms.push_back({*t, static_cast<double>(t.get_wdf())});
    docs.push_back(std::move(d));
  }
  const double n = static_cast<double>(db.get_doccount());
  return rm3_expansion(docs, terms, [&](const std::string& t) { return static_cast<double>(db.get_termfreq(t)) / n; });
}

std::vector<WeightedTerm> rm3_mix(const std::vector<std::string>& query_terms, const std::vector<WeightedTerm>& expansion,
                                  double query_weight) {
  std::vector<WeightedTerm> out;
  std::unordered_map<std::string, std::size_t> at;
  auto add = [&](const std::string& term, double w) {
    auto [it, fresh] = at.try_emplace(term, out.size());
    if (fresh) out.push_back({term, 0});
    out[it->second].weight += w;
  };
  const double n = static_cast<double>(query_terms.size());
  for (const auto& t : query_terms) add(t, query_weight / n);
  for (const auto& t : expansion) add(t.term, (1 - query_weight) * t.weight);
  return out;
}

}  // namespace funnel::recall
