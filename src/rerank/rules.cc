// Business rules over a best-first list (rules.h): the greedy, the
// backtracking search, and the violation count.
#include "rerank/rules.h"

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "funnel/error.h"

namespace funnel::rerank {
namespace {

const char* field_name(RuleField f) { return f == RuleField::kAuthor ? "author" : "category"; }

// Values mapped to 0..count-1, in value order.
struct Dense {
  std::vector<std::uint32_t> id;      // per candidate
  std::vector<std::uint32_t> values;  // sorted distinct values

  explicit Dense(std::span<const std::uint32_t> v) : values(v.begin(), v.end()) {
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    id.reserve(v.size());
    for (auto x : v)
      id.push_back(static_cast<std::uint32_t>(std::lower_bound(values.begin(), values.end(), x) - values.begin()));
  }
  // The id of value x, or -1 when no candidate has it.
  std::ptrdiff_t find(std::uint32_t x) const {
    auto it = std::lower_bound(values.begin(), values.end(), x);
    return it != values.end() && *it == x ? it - values.begin() : -1;
  }
};

// The rules over dense value ids, validated once per call.
struct Problem {
  struct Window {
    std::size_t max, window;
    const std::vector<std::uint32_t>* value;  // dense id per candidate
    std::size_t values;
  };
  std::size_t n = 0;
  std::vector<Window> windows;
  const std::vector<std::uint32_t>* category = nullptr;  // dense id per candidate (when there are caps)
  std::vector<std::size_t> cap_max;                      // per cap rule
  std::vector<std::vector<std::size_t>> caps_of;         // per dense category: its cap rules
  std::vector<std::uint32_t> capped;                     // dense categories with a cap
  // Candidates with equal signatures have the same values of every ruled
  // field: swapping them never changes a list's feasibility.
  std::vector<std::uint32_t> signature;
  std::size_t signatures = 0;
};

// Owns the dense ids that Problem points into.
struct Prepared {
  std::unique_ptr<Dense> authors, categories;
  Problem problem;
};

Prepared prepare(const RuleItems& items, std::span<const WindowRule> windows, std::span<const CapRule> caps,
                 const char* caller) {
  const std::string where = caller;
  if (!items.authors.empty() && !items.categories.empty() && items.authors.size() != items.categories.size())
    throw Error(where + ": items.authors has " + std::to_string(items.authors.size()) +
                " entries but items.categories has " + std::to_string(items.categories.size()) +
                ": expected one of each per candidate");
  Prepared out;
  Problem& p = out.problem;
  p.n = std::max(items.authors.size(), items.categories.size());
  bool uses_author = false, uses_category = !caps.empty();
  for (std::size_t r = 0; r < windows.size(); ++r) {
    const WindowRule& w = windows[r];
    const std::string name = where + ": window rule " + std::to_string(r) + " (" + describe(w) + ")";
    if (w.max == 0) throw Error(name + ": max = 0, expected >= 1 (to exclude a value, filter the candidates)");
    if (w.window == 0) throw Error(name + ": window = 0, expected >= 1");
    (w.field == RuleField::kAuthor ? uses_author : uses_category) = true;
  }
  if (p.n > 0 && uses_author && items.authors.empty())
    throw Error(where + ": a window rule reads the author, but items.authors is empty");
  if (p.n > 0 && uses_category && items.categories.empty())
    throw Error(where + ": a rule reads the category, but items.categories is empty");
  if (uses_author) out.authors = std::make_unique<Dense>(items.authors);
  if (uses_category) out.categories = std::make_unique<Dense>(items.categories);

  for (const WindowRule& w : windows) {
    const Dense& d = w.field == RuleField::kAuthor ? *out.authors : *out.categories;
    p.windows.push_back({w.max, w.window, &d.id, d.values.size()});
  }
  if (!caps.empty()) {
    p.category = &out.categories->id;
    p.caps_of.resize(out.categories->values.size());
    for (std::size_t c = 0; c < caps.size(); ++c) {
      p.cap_max.push_back(caps[c].max);
      const auto id = out.categories->find(caps[c].category);
      if (id < 0) continue;  // no candidate of this category: the cap holds
      if (p.caps_of[static_cast<std::size_t>(id)].empty()) p.capped.push_back(static_cast<std::uint32_t>(id));
      p.caps_of[static_cast<std::size_t>(id)].push_back(c);
    }
  }
  std::unordered_map<std::uint64_t, std::uint32_t> sig;
  p.signature.reserve(p.n);
  for (std::size_t i = 0; i < p.n; ++i) {
    const std::uint64_t a = out.authors ? out.authors->id[i] : 0, c = out.categories ? out.categories->id[i] : 0;
    const auto [it, added] = sig.try_emplace((a << 32) | c, static_cast<std::uint32_t>(sig.size()));
    p.signature.push_back(it->second);
  }
  p.signatures = sig.size();
  return out;
}

// A list under construction: what each rule sees of its end, and what is
// left to place.
class State {
 public:
  explicit State(const Problem& p) : p_(p), cap_count_(p.cap_max.size(), 0), left_(p.n) {
    for (const auto& w : p.windows) {
      recent_.emplace_back(w.values, 0);
      avail_.emplace_back(w.values, 0);
      for (std::size_t i = 0; i < p.n; ++i) ++avail_.back()[(*w.value)[i]];
    }
    if (p.category) {
      avail_category_.assign(p.caps_of.size(), 0);
      for (std::size_t i = 0; i < p.n; ++i) ++avail_category_[(*p.category)[i]];
    }
  }

  // The violations candidate c adds at the next position, per rule: window
  // rules first, then caps, each 0 or 1. Their sum is the cost.
  std::size_t cost(std::size_t c) const {
    std::size_t v = 0;
    for (std::size_t r = 0; r < p_.windows.size(); ++r) v += breaks_window(r, c);
    if (p_.category)
      for (auto cap : p_.caps_of[(*p_.category)[c]]) v += breaks_cap(cap);
    return v;
  }
  bool breaks_window(std::size_t r, std::size_t c) const {
    return recent_[r][(*p_.windows[r].value)[c]] + 1 > p_.windows[r].max;
  }
  // For a cap rule on the category of the item placed next.
  bool breaks_cap(std::size_t cap) const { return cap_count_[cap] >= p_.cap_max[cap]; }

  void push(std::size_t c) {
    const std::size_t pos = seq_.size();
    seq_.push_back(c);
    --left_;
    for (std::size_t r = 0; r < p_.windows.size(); ++r) {
      const auto& w = p_.windows[r];
      ++recent_[r][(*w.value)[c]];
      --avail_[r][(*w.value)[c]];
      // The next position shares a window with positions (pos - window + 1, pos].
      if (pos + 1 >= w.window) --recent_[r][(*w.value)[seq_[pos + 1 - w.window]]];
    }
    if (p_.category) {
      --avail_category_[(*p_.category)[c]];
      for (auto cap : p_.caps_of[(*p_.category)[c]]) ++cap_count_[cap];
    }
  }

  void pop() {
    const std::size_t pos = seq_.size() - 1, c = seq_[pos];
    for (std::size_t r = 0; r < p_.windows.size(); ++r) {
      const auto& w = p_.windows[r];
      --recent_[r][(*w.value)[c]];
      ++avail_[r][(*w.value)[c]];
      if (pos + 1 >= w.window) ++recent_[r][(*w.value)[seq_[pos + 1 - w.window]]];
    }
    if (p_.category) {
      ++avail_category_[(*p_.category)[c]];
      for (auto cap : p_.caps_of[(*p_.category)[c]]) --cap_count_[cap];
    }
    seq_.pop_back();
    ++left_;
  }

  // False when the candidates left certainly cannot fill `slots` more
  // positions: under the caps, or under one window rule alone (one value can
  // fill at most max * (slots / window) + min(max, slots % window) of them).
  // True does not promise a feasible completion.
  bool may_fill(std::size_t slots) const {
    if (left_ < slots) return false;
    if (p_.category) {
      std::size_t lost = 0;
      for (auto cat : p_.capped) {
        std::size_t room = static_cast<std::size_t>(-1);
        for (auto cap : p_.caps_of[cat]) room = std::min(room, p_.cap_max[cap] - std::min(p_.cap_max[cap], cap_count_[cap]));
        lost += avail_category_[cat] - std::min(avail_category_[cat], room);
      }
      if (left_ - lost < slots) return false;
    }
    for (std::size_t r = 0; r < p_.windows.size(); ++r) {
      const auto& w = p_.windows[r];
      const std::size_t most = w.max * (slots / w.window) + std::min(w.max, slots % w.window);
      if (most >= left_) continue;
      std::size_t lost = 0;
      for (auto a : avail_[r]) lost += a > most ? a - most : 0;
      if (left_ - lost < slots) return false;
    }
    return true;
  }

  const std::vector<std::size_t>& sequence() const { return seq_; }

 private:
  const Problem& p_;
  std::vector<std::vector<std::size_t>> recent_;  // per window rule, per value: count in the last window - 1 positions
  std::vector<std::vector<std::size_t>> avail_;   // per window rule, per value: candidates not placed
  std::vector<std::size_t> avail_category_;       // per dense category: candidates not placed
  std::vector<std::size_t> cap_count_;            // per cap rule: items placed
  std::vector<std::size_t> seq_;
  std::size_t left_;
};

// At each position the best-ranked candidate with the fewest new violations.
std::vector<std::size_t> greedy(const Problem& p, std::size_t select, std::size_t* violations) {
  State s(p);
  std::vector<char> used(p.n, 0);
  *violations = 0;
  for (std::size_t pos = 0; pos < select; ++pos) {
    std::size_t best = p.n, best_cost = static_cast<std::size_t>(-1);
    for (std::size_t c = 0; c < p.n && best_cost > 0; ++c) {
      if (used[c]) continue;
      const std::size_t cost = s.cost(c);
      if (cost < best_cost) {
        best = c;
        best_cost = cost;
      }
    }
    used[best] = 1;
    s.push(best);
    *violations += best_cost;
  }
  return s.sequence();
}

enum class Search { kFound, kInfeasible, kBudget };

// Depth-first in input order: the first complete list found is the
// lexicographically best feasible one. Of the candidates with one
// signature only the best unplaced is tried at a position (they are
// interchangeable), so within a signature candidates are placed in input
// order and the unplaced ones are a suffix of its member list.
Search search(const Problem& p, std::size_t select, std::size_t budget, std::vector<std::size_t>* out) {
  std::vector<std::vector<std::size_t>> members(p.signatures);
  for (std::size_t i = 0; i < p.n; ++i) members[p.signature[i]].push_back(i);
  std::vector<std::size_t> head(p.signatures, 0);  // per signature: members placed
  std::vector<std::size_t> next(select + 1, 0);    // per depth: the next candidate to try
  State s(p);
  std::size_t depth = 0, nodes = 0;
  while (depth < select) {
    bool placed = false;
    for (std::size_t c = next[depth]; c < p.n; ++c) {
      const std::uint32_t sig = p.signature[c];
      if (head[sig] >= members[sig].size() || members[sig][head[sig]] != c) continue;  // placed, or not the best of its kind
      if (s.cost(c) != 0) continue;
      if (++nodes > budget) return Search::kBudget;
      s.push(c);
      ++head[sig];
      if (!s.may_fill(select - depth - 1)) {
        s.pop();
        --head[sig];
        continue;
      }
      next[depth] = c + 1;
      next[++depth] = 0;
      placed = true;
      break;
    }
    if (placed) continue;
    if (depth == 0) return Search::kInfeasible;
    --depth;
    --head[p.signature[s.sequence().back()]];
    s.pop();
  }
  *out = s.sequence();
  return Search::kFound;
}

// Violations of a sequence per rule: window rules, then caps.
std::vector<std::size_t> violations_by_rule(const Problem& p, std::span<const std::size_t> sequence) {
  State s(p);
  std::vector<std::size_t> v(p.windows.size() + p.cap_max.size(), 0);
  for (auto c : sequence) {
    for (std::size_t r = 0; r < p.windows.size(); ++r) v[r] += s.breaks_window(r, c);
    if (p.category)
      for (auto cap : p.caps_of[(*p.category)[c]]) v[p.windows.size() + cap] += s.breaks_cap(cap);
    s.push(c);
  }
  return v;
}

std::string plural(std::size_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

}  // namespace

std::string describe(const WindowRule& rule) {
  return std::string("rule ") + field_name(rule.field) + " max " + std::to_string(rule.max) + " per " +
         plural(rule.window, "position");
}

std::string describe(const CapRule& rule) {
  return "cap category " + std::to_string(rule.category) + " max " + std::to_string(rule.max);
}

RulesResult apply_rules(const RuleItems& items, std::size_t select, std::span<const WindowRule> windows,
                        std::span<const CapRule> caps, std::size_t node_budget) {
  const Prepared prepared = prepare(items, windows, caps, "apply_rules");
  const Problem& p = prepared.problem;
  select = std::min(select, p.n);
  RulesResult result;
  result.picks = greedy(p, select, &result.violations);
  if (result.violations == 0) return result;  // the greedy list is the search's first descent
  std::vector<std::size_t> found;
  const Search outcome = search(p, select, node_budget, &found);
  if (outcome == Search::kFound) {
    result.picks = std::move(found);
    result.violations = 0;
    return result;
  }
  const std::string why =
      outcome == Search::kInfeasible
          ? "unsatisfiable with these " + plural(p.n, "candidate") + " (select " + std::to_string(select) + ")"
          : "no feasible list found within the search budget of " + plural(node_budget, "node") + " for these " +
                plural(p.n, "candidate") + " (select " + std::to_string(select) + ")";
  const auto by_rule = violations_by_rule(p, result.picks);
  for (std::size_t r = 0; r < by_rule.size(); ++r) {
    if (by_rule[r] == 0) continue;
    const std::string name = r < windows.size() ? describe(windows[r]) : describe(caps[r - windows.size()]);
    result.notes.push_back(name + ": " + why + ", " + plural(by_rule[r], "violation"));
  }
  return result;
}

std::size_t count_violations(const RuleItems& items, std::span<const std::size_t> sequence,
                             std::span<const WindowRule> windows, std::span<const CapRule> caps) {
  const Prepared prepared = prepare(items, windows, caps, "count_violations");
  const Problem& p = prepared.problem;
  std::vector<char> seen(p.n, 0);
  for (std::size_t k = 0; k < sequence.size(); ++k) {
    if (sequence[k] >= p.n)
      throw Error("count_violations: sequence[" + std::to_string(k) + "] = " + std::to_string(sequence[k]) +
                  ": expected a candidate index < " + std::to_string(p.n));
    if (seen[sequence[k]]) throw Error("count_violations: sequence repeats candidate " + std::to_string(sequence[k]));
    seen[sequence[k]] = 1;
  }
  std::size_t total = 0;
  for (auto v : violations_by_rule(p, sequence)) total += v;
  return total;
}

}  // namespace funnel::rerank
