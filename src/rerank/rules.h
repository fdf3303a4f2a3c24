// Business rules over a best-first candidate list: the re-rank stage's last
// word on what the user sees ("no author twice in a row", "at most two ads").
//
// Two kinds of rule:
//   WindowRule  at most `max` items with the same value of a field (author,
//               category) within any `window` consecutive positions;
//   CapRule     at most `max` items of one category in the whole list.
//
// apply_rules keeps the input's order as far as the rules allow: it returns
// the lexicographically best feasible list, i.e. at each position the
// best-ranked remaining candidate that still allows a complete feasible list.
// It tries the greedy list first (at each position the best candidate that
// breaks no rule) and, when that gets stuck, searches depth-first with
// backtracking. The search treats candidates with the same values of the
// ruled fields as interchangeable (tries only the best of them at each
// position), prunes a branch when the candidates left cannot fill the
// remaining positions under the caps or under any single window rule, and
// stops after `node_budget` placements.
//
// When no feasible list of length `select` exists (or the budget runs out),
// the output is the greedy list with the fewest new violations at each
// position (ties to the better-ranked candidate): it keeps length `select`
// and breaks rules, caps included, rather than showing fewer items; its
// violations are counted and every broken rule gets a note.
//
// Pure functions: concurrent calls are safe. They throw funnel::Error for
// bad input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace funnel::rerank {

enum class RuleField { kAuthor, kCategory };

// At most `max` (>= 1) items with the same value of `field` within any
// `window` (>= 1) consecutive positions. {kAuthor, 1, 2}: never the same
// author twice in a row.
struct WindowRule {
  RuleField field = RuleField::kAuthor;
  std::size_t max = 1;
  std::size_t window = 2;
};

// At most `max` (>= 0) items of `category` in the whole output list. Several
// caps on one category all apply.
struct CapRule {
  std::uint32_t category = 0;
  std::size_t max = 0;
};

// The candidates, best first: one entry per candidate in each span. A span
// may be empty when no rule reads that field; when both are given they have
// the same length. Borrowed for the duration of the call.
struct RuleItems {
  std::span<const std::uint32_t> authors;
  std::span<const std::uint32_t> categories;
};

struct RulesResult {
  std::vector<std::size_t> picks;  // min(select, n) distinct candidate indices, in list order
  std::size_t violations = 0;      // count_violations(picks); 0 when every rule holds
  // One line per broken rule when no feasible list was found, e.g.
  // "rule author max 1 per 3 positions: unsatisfiable with these 40 candidates
  // (select 10), 2 violations"; empty when every rule holds.
  std::vector<std::string> notes;
};

// Orders min(select, n) of the candidates under the rules (see the top of
// this file). node_budget: the most placements the backtracking search may
// try; 0 runs the greedy only. Cost: O(select n (W + C)) for the greedy
// (W window rules, C caps), plus the search when the greedy gets stuck.
// Throws funnel::Error when authors and categories differ in length, a rule
// reads a field that is empty, or a window rule has max or window 0.
RulesResult apply_rules(const RuleItems& items, std::size_t select, std::span<const WindowRule> windows,
                        std::span<const CapRule> caps, std::size_t node_budget = 100000);

// The violations of `sequence` (distinct candidate indices, in list order):
//   for every window rule, each position p whose item has more than `max`
//   items with its value (itself included) among positions
//   [p - window + 1, p]; plus, for every cap rule, each item of its category
//   beyond the first `max`.
// So a list breaking no rule counts 0; "A A A" under {author, 1, 2} counts 2.
// Throws funnel::Error as apply_rules, and for an index >= n or a repeated
// index.
std::size_t count_violations(const RuleItems& items, std::span<const std::size_t> sequence,
                             std::span<const WindowRule> windows, std::span<const CapRule> caps);

// "rule author max 1 per 3 positions", "cap category 7 max 2": how notes
// name a rule.
std::string describe(const WindowRule& rule);
std::string describe(const CapRule& rule);

}  // namespace funnel::rerank
