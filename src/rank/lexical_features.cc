#include "rank/lexical_features.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "text/analysis.h"

namespace funnel::rank {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The distinct query terms in first-occurrence order.
std::vector<std::string> distinct(const std::vector<std::string>& query) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (const auto& t : query)
    if (seen.insert(t).second) out.push_back(t);
  return out;
}

// (position, index of the query term) for every doc term that is a query
// term, by position.
std::vector<std::pair<std::uint32_t, std::size_t>> hits(const std::vector<text::Term>& doc,
                                                        const std::vector<std::string>& terms) {
  std::unordered_map<std::string, std::size_t> at;
  for (std::size_t i = 0; i < terms.size(); ++i) at.emplace(terms[i], i);
  std::vector<std::pair<std::uint32_t, std::size_t>> out;
  for (const auto& t : doc)
    if (auto it = at.find(t.text); it != at.end()) out.push_back({t.pos, it->second});
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace

double min_window_unordered(const std::vector<text::Term>& doc, const std::vector<std::string>& query) {
  const auto terms = distinct(query);
  const auto h = hits(doc, terms);
  std::vector<std::size_t> count(terms.size(), 0);
  std::size_t held = 0;
  for (const auto& [pos, i] : h) held += count[i]++ == 0;
  if (held < 2) return kNaN;
  // Sliding window over the hits: the shortest one holding all `held` terms.
  std::fill(count.begin(), count.end(), 0);
  std::size_t inside = 0, lo = 0;
  double best = kNaN;
  for (std::size_t hi = 0; hi < h.size(); ++hi) {
    inside += count[h[hi].second]++ == 0;
    while (inside == held) {
      const double w = static_cast<double>(h[hi].first - h[lo].first + 1);
      if (std::isnan(best) || w < best) best = w;
      inside -= --count[h[lo].second] == 0;
      ++lo;
    }
  }
  return best;
}

double min_window_ordered(const std::vector<text::Term>& doc, const std::vector<std::string>& query) {
  const auto terms = distinct(query);
  const auto h = hits(doc, terms);
  // The held terms, in query order.
  std::vector<bool> present(terms.size(), false);
  for (const auto& [pos, i] : h) present[i] = true;
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < terms.size(); ++i)
    if (present[i]) order.push_back(i);
  if (order.size() < 2) return kNaN;
  // For each occurrence of the first held term, the earliest chain of the
  // others at strictly increasing positions (greedy is optimal for a fixed
  // start: taking each next term as early as possible ends earliest).
  double best = kNaN;
  for (std::size_t s = 0; s < h.size(); ++s) {
    if (h[s].second != order[0]) continue;
    std::uint32_t last = h[s].first;
    std::size_t next = 1, j = s + 1;
    for (; j < h.size() && next < order.size(); ++j)
      if (h[j].second == order[next] && h[j].first > last) {
        last = h[j].first;
        ++next;
      }
    if (next < order.size()) break;  // later starts cannot complete either
    const double w = static_cast<double>(last - h[s].first + 1);
    if (std::isnan(best) || w < best) best = w;
  }
  return best;
}

QueryIdfStats query_idf_stats(const std::vector<double>& dfs, double n_docs) {
  QueryIdfStats s;
  if (dfs.empty()) return s;
  const double rare = std::max(1.0, n_docs / 100);
  std::size_t n_rare = 0;
  for (double df : dfs) {
    const double idf = text::bm25_idf(n_docs, df);
    s.sum += idf;
    s.max = std::max(s.max, idf);
    n_rare += df <= rare;
  }
  s.rare_share = static_cast<double>(n_rare) / static_cast<double>(dfs.size());
  return s;
}

double prf_agreement(const std::vector<recall::WeightedTerm>& expansion, const std::vector<text::Term>& doc) {
  std::unordered_set<std::string> held;
  for (const auto& t : doc) held.insert(t.text);
  double in = 0, all = 0;
  for (const auto& t : expansion) {
    all += t.weight;
    if (held.count(t.term)) in += t.weight;
  }
  return all > 0 ? in / all : 0;
}

}  // namespace funnel::rank
