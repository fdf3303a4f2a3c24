// Importing "user item" pair files (one behaviour a file, e.g. the Taobao
// multi-behaviour logs) into a feed data folder: corpus.jsonl and
// feed/{train,dev,test}.tsv with feed.json (docs/formats.md, "Interactions
// (feeds)").
#include <algorithm>
#include <fstream>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "funnel/error.h"
#include "funnel/interactions.h"
#include "util/fs.h"
#include "util/utf8.h"

namespace funnel {
namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

// Ids interned to dense indices, in order of first appearance.
struct Ids {
  std::unordered_map<std::string, std::uint32_t> index;
  std::vector<std::string> names;
  std::uint32_t add(std::string_view id) {
    auto [it, fresh] = index.emplace(std::string(id), static_cast<std::uint32_t>(names.size()));
    if (fresh) names.push_back(it->first);
    return it->second;
  }
};

// A (user, item) pair of interned indices.
using Pair = std::uint64_t;
Pair make_pair_key(std::uint32_t user, std::uint32_t item) { return (std::uint64_t{user} << 32) | item; }
std::uint32_t user_of(Pair p) { return static_cast<std::uint32_t>(p >> 32); }
std::uint32_t item_of(Pair p) { return static_cast<std::uint32_t>(p); }

struct PairFile {
  std::vector<Pair> pairs;  // distinct, in order of first appearance
  std::size_t lines = 0;    // non-blank lines
};

PairFile read_pairs(const fs::path& path, Ids& users, Ids& items) {
  if (!fs::is_regular_file(path)) throw Error(path.string() + ": file not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open for reading");
  PairFile out;
  std::unordered_set<Pair> seen;
  std::string buf;
  long no = 0;
  auto fail = [&](const std::string& what) { throw Error(path.string() + ":" + std::to_string(no) + ": " + what); };
  while (std::getline(in, buf)) {
    ++no;
    if (!buf.empty() && buf.back() == '\r') buf.pop_back();
    std::string_view line = buf;
    if (no == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // BOM
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (auto bad = detail::find_invalid_utf8(line); bad != detail::kValidUtf8)
      fail("invalid UTF-8 at byte " + std::to_string(bad + 1) + " of the line");
    std::string_view tok[2];
    int n = 0;
    for (std::size_t i = 0; i < line.size();) {
      if (line[i] == ' ' || line[i] == '\t') {
        ++i;
        continue;
      }
      std::size_t j = line.find_first_of(" \t", i);
      if (j == std::string_view::npos) j = line.size();
      if (n == 2) fail("expected 'user item'");
      tok[n++] = line.substr(i, j - i);
      i = j;
    }
    if (n != 2) fail("expected 'user item'");
    for (auto t : tok)
      for (unsigned char ch : t)
        if (ch < 0x20 || ch == 0x7F) fail("expected 'user item'");
    ++out.lines;
    const Pair p = make_pair_key(users.add(tok[0]), items.add(tok[1]));
    if (seen.insert(p).second) out.pairs.push_back(p);
  }
  if (in.bad()) throw Error(path.string() + ": read error");
  return out;
}

// An integer written the one way ("0", "17"; not "017" or "+1"): such ids
// sort numerically by (length, bytes).
bool is_plain_integer(const std::string& s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// rank[index] = place of the id in sorted order: numeric when every id is a
// plain integer, byte order otherwise.
std::vector<std::uint32_t> sort_ranks(const Ids& ids) {
  const auto& names = ids.names;
  const bool numeric = std::all_of(names.begin(), names.end(), is_plain_integer);
  std::vector<std::uint32_t> order(names.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const std::string &x = names[a], &y = names[b];
    if (numeric && x.size() != y.size()) return x.size() < y.size();
    return x < y;
  });
  std::vector<std::uint32_t> rank(names.size());
  for (std::uint32_t r = 0; r < order.size(); ++r) rank[order[r]] = r;
  return rank;
}

// Whether an earlier pair import wrote `out` (its feed.json says so): only
// such a folder may be replaced.
bool written_by_pairs_import(const fs::path& out) {
  std::ifstream in(out / "feed" / "feed.json", std::ios::binary);
  if (!in) return false;
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  auto src = j.find("source");
  return src != j.end() && src->is_object() && src->value("importer", "") == "pairs";
}

void check_signal_name(const std::string& name) {
  if (name.empty() || name == "user" || name == "item" || name == "time" || name == "engaged")
    throw Error("pairs import: signal name '" + name + "': expected a non-empty name other than user, item, time, engaged");
  for (unsigned char ch : name)
    if (ch < 0x20 || ch == 0x7F || ch == ' ')
      throw Error("pairs import: signal name '" + name + "': contains a space or a control character");
}

}  // namespace

PairsImportStats import_pairs(const PairsImport& spec, const fs::path& out, bool overwrite) {
  if (spec.train.empty()) throw Error("pairs import: no train files");
  std::vector<std::string> names;
  for (const auto& [name, file] : spec.train) {
    check_signal_name(name);
    if (std::find(names.begin(), names.end(), name) != names.end())
      throw Error("pairs import: signal '" + name + "' given twice");
    names.push_back(name);
  }
  const auto held = std::find(names.begin(), names.end(), spec.held_out_signal);
  if (held == names.end())
    throw Error("pairs import: held_out_signal '" + spec.held_out_signal + "' is not one of the train signals");
  const std::size_t held_col = static_cast<std::size_t>(held - names.begin());
  for (const auto& [name, file] : spec.train) detail::check_output_not_input(out, file);
  for (const fs::path* p : {&spec.dev, &spec.test})
    if (!p->empty()) detail::check_output_not_input(out, *p);

  detail::StagingDir stage(out, overwrite, written_by_pairs_import(out) ? "feed/feed.json" : nullptr);

  Ids users, items;
  PairFile dev, test;
  if (!spec.dev.empty()) dev = read_pairs(spec.dev, users, items);
  if (!spec.test.empty()) test = read_pairs(spec.test, users, items);
  const std::unordered_set<Pair> dev_set(dev.pairs.begin(), dev.pairs.end());

  // One train row per distinct pair, a flag per signal.
  const std::size_t n = names.size();
  std::unordered_map<Pair, std::size_t> row_of;
  std::vector<Pair> rows;
  std::vector<std::uint8_t> flags;  // rows.size() x n
  PairsImportStats stats;
  ordered_json train_source = ordered_json::array();
  for (std::size_t s = 0; s < n; ++s) {
    const fs::path& file = spec.train[s].second;
    PairFile pf = read_pairs(file, users, items);
    std::size_t removed = 0;
    for (Pair p : pf.pairs) {
      if (spec.remove_dev_from_train && s == held_col && dev_set.count(p)) {
        ++removed;
        continue;
      }
      auto [it, fresh] = row_of.emplace(p, rows.size());
      if (fresh) {
        rows.push_back(p);
        flags.resize(flags.size() + n, 0);
      }
      flags[it->second * n + s] = 1;
    }
    stats.removed_from_train += removed;
    ordered_json src = {{"signal", names[s]}, {"file", file.filename().string()},
                        {"lines", pf.lines}, {"pairs", pf.pairs.size()}};
    if (s == held_col && spec.remove_dev_from_train) src["removed_dev_pairs"] = removed;
    train_source.push_back(src);
  }

  const auto user_rank = sort_ranks(users), item_rank = sort_ranks(items);
  auto by_user_item = [&](Pair a, Pair b) {
    const auto ua = user_rank[user_of(a)], ub = user_rank[user_of(b)];
    if (ua != ub) return ua < ub;
    return item_rank[item_of(a)] < item_rank[item_of(b)];
  };
  std::vector<std::size_t> order(rows.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return by_user_item(rows[a], rows[b]); });

  const fs::path dir = stage.path();
  {
    std::vector<std::uint32_t> by_rank(items.names.size());
    for (std::uint32_t i = 0; i < by_rank.size(); ++i) by_rank[item_rank[i]] = i;
    detail::AtomicFile f(dir / "corpus.jsonl");
    for (std::uint32_t i : by_rank)
      f.stream() << ordered_json{{"_id", items.names[i]}, {"title", ""}, {"text", ""}}.dump() << '\n';
    f.commit();
  }
  fs::create_directory(dir / "feed");
  std::string header = "user\titem";
  for (const auto& name : names) header += "\t" + name;
  header += '\n';
  {
    detail::AtomicFile f(dir / "feed" / "train.tsv");
    auto& o = f.stream();
    o << header;
    for (std::size_t r : order) {
      o << users.names[user_of(rows[r])] << '\t' << items.names[item_of(rows[r])];
      for (std::size_t s = 0; s < n; ++s) o << (flags[r * n + s] ? "\t1" : "\t0");
      o << '\n';
    }
    f.commit();
  }
  std::string held_flags;  // the signal columns of a held-out row
  for (std::size_t s = 0; s < n; ++s) held_flags += s == held_col ? "\t1" : "\t0";
  auto write_held_out = [&](const char* file, PairFile& part) {
    std::sort(part.pairs.begin(), part.pairs.end(), by_user_item);
    detail::AtomicFile f(dir / "feed" / file);
    auto& o = f.stream();
    o << header;
    for (Pair p : part.pairs) o << users.names[user_of(p)] << '\t' << items.names[item_of(p)] << held_flags << '\n';
    f.commit();
  };

  ordered_json split = {{"train", "train.tsv"}};
  ordered_json source = {{"importer", "pairs"}, {"train", train_source}};
  if (!spec.dev.empty()) {
    write_held_out("dev.tsv", dev);
    split["dev"] = "dev.tsv";
    source["dev"] = {{"file", spec.dev.filename().string()}, {"lines", dev.lines}, {"pairs", dev.pairs.size()}};
  }
  if (!spec.test.empty()) {
    write_held_out("test.tsv", test);
    split["test"] = "test.tsv";
    source["test"] = {{"file", spec.test.filename().string()}, {"lines", test.lines}, {"pairs", test.pairs.size()}};
  }
  stats.users = users.names.size();
  stats.items = items.names.size();
  stats.train_rows = rows.size();
  stats.dev_rows = dev.pairs.size();
  stats.test_rows = test.pairs.size();
  source["held_out_signal"] = spec.held_out_signal;
  source["remove_dev_from_train"] = spec.remove_dev_from_train;
  source["users"] = stats.users;
  source["items"] = stats.items;
  source["train_rows"] = stats.train_rows;
  ordered_json grade = ordered_json::object();
  for (const auto& name : names) grade[name] = 1;
  ordered_json feed = {{"split", split}, {"grade", grade}, {"exclude", spec.held_out_signal}, {"source", source}};
  {
    detail::AtomicFile f(dir / "feed" / "feed.json");
    f.stream() << feed.dump(2) << '\n';
    f.commit();
  }
  stage.commit();
  return stats;
}

}  // namespace funnel
