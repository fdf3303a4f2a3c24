// Interaction logs: strict TSV and JSONL readers, the TSV writer, and the
// feed folder's split (feed.json). Formats: docs/formats.md, "Interactions
// (feeds)".
#include "funnel/interactions.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <optional>
#include <string_view>

#include "core/config_util.h"
#include "data/jsonl.h"
#include "funnel/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/rng.h"
#include "util/utf8.h"

namespace funnel {
namespace fs = std::filesystem;
using detail::JsonlReader;
using detail::quote_for_error;
using nlohmann::json;

int Interactions::signal_index(const std::string& name) const {
  for (std::size_t s = 0; s < signal_names.size(); ++s)
    if (signal_names[s] == name) return static_cast<int>(s);
  return -1;
}

std::uint32_t Interactions::add_user(const std::string& id) {
  auto [it, fresh] = user_row.emplace(id, static_cast<std::uint32_t>(user_ids.size()));
  if (fresh) user_ids.push_back(id);
  return it->second;
}

namespace {

bool is_reserved_column(std::string_view name) { return name == "user" || name == "item" || name == "time"; }

// Why `name` cannot be a signal name, or "" when it can. Signal names become
// TSV header columns and feed.json keys.
std::string bad_signal_name(std::string_view name) {
  if (name.empty()) return "empty signal name";
  if (is_reserved_column(name)) return "'" + std::string(name) + "' is a column of its own, not a signal name";
  for (unsigned char ch : name)
    if (ch < 0x20 || ch == 0x7F) return "signal name " + quote_for_error(name) + " contains a control character";
  return "";
}

// Why `id` cannot be a user id, or "" when it can: the same rule as the
// JSONL readers' ids (no whitespace, no control characters).
std::string bad_id(std::string_view id) {
  if (id.empty()) return "empty";
  for (unsigned char ch : id)
    if (ch <= 0x20 || ch == 0x7F) return "id " + quote_for_error(id) + " contains whitespace or a control character";
  return "";
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// `v` sorted: signal names compared as sets.
std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// A signal value: a number that is the whole field (what from_chars reads:
// no sign '+', no spaces, no hex), finite and within float range. The error
// for the field, or "".
std::string parse_signal(std::string_view s, float& out) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || end != s.data() + s.size() || (ec != std::errc() && ec != std::errc::result_out_of_range))
    return "expected a number, got " + quote_for_error(s);
  if (ec != std::errc() || !std::isfinite(v) || !std::isfinite(static_cast<float>(v)))
    return "expected a finite number (within float range), got " + quote_for_error(s);
  out = static_cast<float>(v);
  return "";
}

// A time: an int64 other than the kNoTime sentinel, the whole field.
std::optional<std::int64_t> parse_time(std::string_view s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || v == Interaction::kNoTime) return std::nullopt;
  return v;
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> cols;
  std::size_t start = 0;
  while (true) {
    std::size_t tab = line.find('\t', start);
    cols.push_back(line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  return cols;
}

// Restores a log to its state before a read that failed half-way, so that
// `into` is unchanged by a failed read (strong guarantee).
class Rollback {
 public:
  explicit Rollback(Interactions& log)
      : log_(log), rows_(log.rows.size()), users_(log.user_ids.size()),
        names_(log.signal_names), has_time_(log.has_time) {}
  ~Rollback() {
    if (done_) return;
    log_.rows.resize(rows_);
    log_.signals.resize(rows_ * names_.size());
    for (std::size_t u = users_; u < log_.user_ids.size(); ++u) log_.user_row.erase(log_.user_ids[u]);
    log_.user_ids.resize(users_);
    log_.signal_names = names_;
    log_.has_time = has_time_;
  }
  void commit() { done_ = true; }

 private:
  Interactions& log_;
  std::size_t rows_, users_;
  std::vector<std::string> names_;
  bool has_time_;
  bool done_ = false;
};

// An earlier part was read into `log` (it sets the signal names and whether
// there is a time); a first part may set them.
bool is_fresh(const Interactions& log) { return log.rows.empty() && log.signal_names.empty(); }

void read_tsv(const fs::path& path, const Corpus& corpus, Interactions& into) {
  if (!fs::is_regular_file(path)) throw Error(path.string() + ": file not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open for reading");
  const bool fresh = is_fresh(into);
  std::string buf;
  long no = 0;
  auto fail = [&](std::string_view field, const std::string& what) {
    std::string msg = path.string() + ":" + std::to_string(no) + ": ";
    if (!field.empty()) msg += "field '" + std::string(field) + "': ";
    throw Error(msg + what);
  };

  std::vector<std::string> names;    // the file's signal columns, in order
  std::vector<std::size_t> to_into;  // file signal column -> into's signal index
  bool with_time = false;
  std::size_t n_fields = 0;
  std::string expected_fields;       // "(user, item, time, click, like)"
  bool header_seen = false;
  while (std::getline(in, buf)) {
    ++no;
    if (!buf.empty() && buf.back() == '\r') buf.pop_back();
    std::string_view line = buf;
    if (no == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // BOM
    if (line.empty()) continue;
    if (auto bad = detail::find_invalid_utf8(line); bad != detail::kValidUtf8)
      fail("", "invalid UTF-8 at byte " + std::to_string(bad + 1) + " of the line");
    const auto cols = split_tabs(line);

    if (!header_seen) {
      header_seen = true;
      if (cols.size() < 2 || cols[0] != "user" || cols[1] != "item")
        fail("", "expected a header line naming the columns 'user<TAB>item[<TAB>time]<TAB>SIGNAL...', got " +
                     quote_for_error(line));
      with_time = cols.size() > 2 && cols[2] == "time";
      for (std::size_t c = with_time ? 3 : 2; c < cols.size(); ++c) {
        const std::string name(cols[c]);
        if (std::string why = bad_signal_name(name); !why.empty())
          fail("", "header column " + std::to_string(c + 1) + ": " + why);
        if (std::find(names.begin(), names.end(), name) != names.end())
          fail("", "header column " + std::to_string(c + 1) + ": duplicate signal name '" + name + "'");
        names.push_back(name);
      }
      n_fields = cols.size();
      for (std::size_t c = 0; c < cols.size(); ++c) expected_fields += (c ? ", " : "(") + std::string(cols[c]);
      expected_fields += ")";
      if (fresh) {
        into.signal_names = names;
        into.has_time = with_time;
        for (std::size_t s = 0; s < names.size(); ++s) to_into.push_back(s);
      } else {
        if (sorted(names) != sorted(into.signal_names))
          fail("", "signals (" + join(names) + ") differ from those of the earlier part of the log (" +
                       join(into.signal_names) + ")");
        if (with_time != into.has_time)
          fail("", with_time ? "a 'time' column, but the earlier part of the log has no time"
                             : "no 'time' column, but the earlier part of the log has times");
        for (const auto& name : names) to_into.push_back(static_cast<std::size_t>(into.signal_index(name)));
      }
      continue;
    }

    if (cols.size() != n_fields)
      fail("", "expected " + std::to_string(n_fields) + " tab-separated fields " + expected_fields + ", got " +
                   std::to_string(cols.size()));
    if (std::string why = bad_id(cols[0]); !why.empty()) fail("user", why);
    if (cols[1].empty()) fail("item", "empty");
    Interaction row;
    const std::string item(cols[1]);
    auto found = corpus.find(item);
    if (!found) fail("item", quote_for_error(item) + " is not in the corpus");
    row.item = *found;
    std::size_t c = 2;
    if (with_time) {
      auto t = parse_time(cols[2]);
      if (!t) fail("time", "expected an integer (seconds, 64 bits), got " + quote_for_error(cols[2]));
      row.time = *t;
      c = 3;
    }
    const std::size_t base = into.signals.size();
    into.signals.resize(base + names.size(), 0.0f);
    for (std::size_t s = 0; s < names.size(); ++s, ++c) {
      float v = 0;
      if (std::string why = parse_signal(cols[c], v); !why.empty()) fail(names[s], why);
      into.signals[base + to_into[s]] = v;
    }
    row.user = into.add_user(std::string(cols[0]));
    into.rows.push_back(row);
  }
  if (in.bad()) throw Error(path.string() + ": read error");
  if (!header_seen)
    throw Error(path.string() + ": empty file (expected a header line 'user<TAB>item[<TAB>time]<TAB>SIGNAL...')");
}

void read_jsonl(const fs::path& path, const Corpus& corpus, Interactions& into) {
  JsonlReader r(path);
  const bool fresh = is_fresh(into);
  // Rows are collected first: the signal names of a first part are the union
  // over the file, known at its end.
  struct Row {
    Interaction row;
    std::vector<std::pair<std::uint32_t, float>> values;  // (local signal index, value)
  };
  std::vector<Row> rows;
  std::vector<std::string> names;  // local signal index -> name
  std::unordered_map<std::string, std::uint32_t> local;
  if (!fresh) {
    names = into.signal_names;
    for (std::size_t s = 0; s < names.size(); ++s) local.emplace(names[s], static_cast<std::uint32_t>(s));
  }
  std::optional<bool> with_time;  // set by the earlier part, or by the first row
  long time_line = 0;             // the row that set it (0: the earlier part)
  if (!fresh) with_time = into.has_time;

  json obj;
  while (r.next(obj)) {
    Row row;
    for (const char* key : {"user", "item"})
      if (!obj.contains(key) || obj[key].is_null()) r.fail(key, "missing (expected a string or integer id)");
    const std::string user = r.id(obj, {"user"});
    const std::string item = r.id(obj, {"item"});
    auto found = corpus.find(item);
    if (!found) r.fail("item", quote_for_error(item) + " is not in the corpus");
    row.row.item = *found;
    auto time = r.optional_int64(obj, "time");
    if (time && *time == Interaction::kNoTime) r.fail("time", "out of range");
    if (!with_time) {
      with_time = time.has_value();
      time_line = r.line();
    } else if (*with_time != time.has_value()) {
      const std::string other = time_line ? "line " + std::to_string(time_line) : "the earlier part of the log";
      if (time) r.fail("time", "a time, but " + other + " has none (a log has times on all rows or none)");
      r.fail("time", "missing, but " + other + " has a time (a log has times on all rows or none)");
    }
    if (time) row.row.time = *time;
    if (auto it = obj.find("signals"); it != obj.end() && !it->is_null()) {
      if (!it->is_object()) r.fail("signals", "expected an object {NAME: number}, got " + detail::json_type_name(*it));
      for (auto s = it->begin(); s != it->end(); ++s) {
        const std::string field = "signals." + s.key();
        if (std::string why = bad_signal_name(s.key()); !why.empty()) r.fail(field, why);
        if (!s->is_number()) r.fail(field, "expected a number, got " + detail::json_type_name(*s));
        const double v = s->get<double>();
        if (!std::isfinite(static_cast<float>(v))) r.fail(field, "out of float range, got " + s->dump());
        auto l = local.find(s.key());
        if (l == local.end()) {
          if (!fresh)
            r.fail(field, "not a signal of the earlier part of the log (" + join(into.signal_names) + ")");
          l = local.emplace(s.key(), static_cast<std::uint32_t>(names.size())).first;
          names.push_back(s.key());
        }
        row.values.emplace_back(l->second, static_cast<float>(v));
      }
    }
    row.row.user = into.add_user(user);
    rows.push_back(std::move(row));
  }

  // A first part's signals: the union, sorted by name.
  std::vector<std::uint32_t> to_into(names.size());
  if (fresh) {
    into.signal_names = sorted(names);
    into.has_time = with_time.value_or(false);
    for (std::size_t l = 0; l < names.size(); ++l)
      to_into[l] = static_cast<std::uint32_t>(into.signal_index(names[l]));
  } else {
    for (std::size_t l = 0; l < names.size(); ++l) to_into[l] = static_cast<std::uint32_t>(l);
  }
  const std::size_t n = into.signal_names.size();
  into.rows.reserve(into.rows.size() + rows.size());
  into.signals.reserve(into.signals.size() + rows.size() * n);
  for (const Row& row : rows) {
    const std::size_t base = into.signals.size();
    into.signals.resize(base + n, 0.0f);
    for (auto [l, v] : row.values) into.signals[base + to_into[l]] = v;
    into.rows.push_back(row.row);
  }
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void read_interactions(const fs::path& path, const Corpus& corpus, Interactions& into) {
  const std::string name = path.filename().string();
  const bool tsv = ends_with(name, ".tsv"), jsonl = ends_with(name, ".jsonl");
  if (!tsv && !jsonl) throw Error(path.string() + ": unknown log format (expected a name ending in .tsv or .jsonl)");
  Rollback rollback(into);
  if (tsv) read_tsv(path, corpus, into);
  else read_jsonl(path, corpus, into);
  rollback.commit();
}

Interactions read_interactions(const fs::path& path, const Corpus& corpus) {
  Interactions log;
  read_interactions(path, corpus, log);
  return log;
}

void write_interactions_tsv(const fs::path& path, const Interactions& log, const Corpus& corpus) {
  const std::size_t n = log.n_signals();
  if (log.signals.size() != log.rows.size() * n)
    throw Error(path.string() + ": log has " + std::to_string(log.signals.size()) + " signal values for " +
                std::to_string(log.rows.size()) + " rows of " + std::to_string(n) + " signals");
  for (const auto& name : log.signal_names)
    if (std::string why = bad_signal_name(name); !why.empty()) throw Error(path.string() + ": " + why);
  for (const auto& id : log.user_ids)  // a tab or a newline would break the file
    if (std::string why = bad_id(id); !why.empty()) throw Error(path.string() + ": user " + why);
  detail::AtomicFile f(path);
  auto& out = f.stream();
  out << "user\titem";
  if (log.has_time) out << "\ttime";
  for (const auto& name : log.signal_names) out << '\t' << name;
  out << '\n';
  char buf[32];
  for (std::size_t i = 0; i < log.rows.size(); ++i) {
    const Interaction& row = log.rows[i];
    if (row.user >= log.user_ids.size() || row.item >= corpus.docs.size())
      throw Error(path.string() + ": row " + std::to_string(i) + " names a user or item the log does not have");
    out << log.user_ids[row.user] << '\t' << corpus.docs[row.item].id;
    if (log.has_time) {
      if (row.time == Interaction::kNoTime)
        throw Error(path.string() + ": row " + std::to_string(i) + " has no time in a log with times");
      out << '\t' << row.time;
    }
    for (std::size_t s = 0; s < n; ++s) {
      std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(log.signal(i, s)));
      out << '\t' << buf;
    }
    out << '\n';
  }
  f.commit();
}

// ---- FeedLog ----------------------------------------------------------------

namespace {

int signal_or_throw(const Interactions& log, const std::string& name, const char* what) {
  int s = log.signal_index(name);
  if (s < 0) throw Error(std::string(what) + ": '" + name + "' is not a signal of the log (" + join(log.signal_names) + ")");
  return s;
}

}  // namespace

float FeedLog::grade(std::size_t i) const {
  float g = 0;
  for (const auto& [name, w] : grade_weights) g += w * log.signal(i, signal_or_throw(log, name, "grade"));
  return g;
}

std::vector<float> FeedLog::grades() const {
  std::vector<std::pair<int, float>> cols;
  for (const auto& [name, w] : grade_weights) cols.emplace_back(signal_or_throw(log, name, "grade"), w);
  std::vector<float> out(log.rows.size(), 0.0f);
  for (std::size_t i = 0; i < out.size(); ++i)
    for (auto [s, w] : cols) out[i] += w * log.signal(i, s);
  return out;
}

bool FeedLog::excludes(std::size_t i) const {
  if (exclude == "engaged") return grade(i) > 0;
  return log.signal(i, signal_or_throw(log, exclude, "exclude")) > 0;
}

namespace {

json read_json_object(const fs::path& path) {
  if (!fs::is_regular_file(path)) throw Error(path.string() + ": file not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open for reading");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw Error(path.string() + ": malformed JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw Error(path.string() + ": expected a JSON object, got " + detail::json_type_name(j));
  return j;
}

std::int64_t get_time(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) throw Error(where + ": field '" + key + "': missing (expected an integer time in seconds)");
  if (!it->is_number_integer() ||
      (it->is_number_unsigned() &&
       it->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())))
    throw Error(where + ": field '" + key + "': expected an integer time in seconds, got " + it->dump());
  return it->get<std::int64_t>();
}

// The random split: each user's rows shuffled by a generator of its own,
// seeded from `seed` and the user's id, so that a user's split depends on its
// own rows alone (not on the other users or the file order).
void split_random(const Interactions& log, std::uint64_t seed, std::size_t dev, std::size_t test,
                  std::vector<LogPart>& part) {
  std::vector<std::vector<std::size_t>> rows_of(log.user_ids.size());
  for (std::size_t i = 0; i < log.rows.size(); ++i) rows_of[log.rows[i].user].push_back(i);
  for (std::size_t u = 0; u < rows_of.size(); ++u) {
    auto& rows = rows_of[u];
    if (rows.size() <= dev + test) continue;
    detail::Rng rng(seed ^ detail::stable_hash(log.user_ids[u]));
    for (std::size_t k = rows.size() - 1; k > 0; --k) std::swap(rows[k], rows[rng.below(k + 1)]);
    for (std::size_t k = 0; k < dev; ++k) part[rows[k]] = LogPart::kDev;
    for (std::size_t k = dev; k < dev + test; ++k) part[rows[k]] = LogPart::kTest;
  }
}

}  // namespace

FeedLog load_feed_log(const fs::path& data_dir, const Corpus& corpus) {
  const fs::path dir = data_dir / "feed";
  const fs::path path = dir / "feed.json";
  const std::string where = path.string();
  FeedLog feed;
  feed.meta = read_json_object(path);
  const json& meta = feed.meta;
  detail::check_keys(meta, {"log", "split", "grade", "exclude", "days", "source"}, where);

  auto split_it = meta.find("split");
  if (split_it == meta.end()) throw Error(where + ": field 'split': missing");
  const json& split = *split_it;
  const std::string swhere = where + ": field 'split'";
  if (!split.is_object()) throw Error(swhere + ": expected an object, got " + detail::json_type_name(split));

  if (split.contains("train")) {
    // Given files: the parts of one log, read into it in turn.
    detail::check_keys(split, {"train", "dev", "test"}, swhere);
    if (meta.contains("log"))
      throw Error(where + ": field 'log': not used with a split by files (the files are the log); remove it");
    const std::pair<const char*, LogPart> parts[] = {
        {"train", LogPart::kTrain}, {"dev", LogPart::kDev}, {"test", LogPart::kTest}};
    for (const auto& [key, p] : parts) {
      if (!split.contains(key)) continue;
      const std::string file = detail::get_string(split, key, swhere);
      read_interactions(dir / file, corpus, feed.log);
      feed.part.resize(feed.log.rows.size(), p);
    }
  } else {
    const std::string log_file = detail::get_string(meta, "log", where);
    feed.log = read_interactions(dir / log_file, corpus);
    feed.part.assign(feed.log.rows.size(), LogPart::kTrain);
    if (split.contains("random")) {
      detail::check_keys(split, {"random"}, swhere);
      const json& random = split["random"];
      const std::string rwhere = swhere + ": field 'random'";
      detail::check_keys(random, {"seed", "dev", "test"}, rwhere);
      for (const char* key : {"seed", "dev", "test"})
        if (!random.contains(key)) throw Error(rwhere + ": field '" + key + "': missing (expected an integer >= 0)");
      const std::uint64_t seed = detail::get_size(random, "seed", rwhere, 0);
      const std::size_t dev = detail::get_size(random, "dev", rwhere, 0);
      const std::size_t test = detail::get_size(random, "test", rwhere, 0);
      split_random(feed.log, seed, dev, test, feed.part);
    } else if (split.contains("dev_from") || split.contains("test_from")) {
      detail::check_keys(split, {"dev_from", "test_from"}, swhere);
      feed.dev_from = get_time(split, "dev_from", swhere);
      feed.test_from = get_time(split, "test_from", swhere);
      if (feed.dev_from > feed.test_from)
        throw Error(swhere + ": expected dev_from <= test_from, got " + std::to_string(feed.dev_from) + " > " +
                    std::to_string(feed.test_from));
      if (!feed.log.has_time)
        throw Error(swhere + ": a split by time needs a log with times, and " + (dir / log_file).string() +
                    " has none");
      for (std::size_t i = 0; i < feed.log.rows.size(); ++i) {
        const std::int64_t t = feed.log.rows[i].time;
        feed.part[i] = t < feed.dev_from ? LogPart::kTrain : t < feed.test_from ? LogPart::kDev : LogPart::kTest;
      }
    } else {
      throw Error(swhere + ": expected {\"dev_from\", \"test_from\"}, {\"train\", \"dev\", \"test\"} or "
                           "{\"random\": {\"seed\", \"dev\", \"test\"}}");
    }
  }

  if (auto it = meta.find("grade"); it != meta.end()) {
    const std::string gwhere = where + ": field 'grade'";
    if (!it->is_object() || it->empty())
      throw Error(gwhere + ": expected an object {SIGNAL: weight} naming at least one signal");
    for (auto g = it->begin(); g != it->end(); ++g) {
      if (feed.log.signal_index(g.key()) < 0)
        throw Error(gwhere + ": '" + g.key() + "' is not a signal of the log (" + join(feed.log.signal_names) + ")");
      if (!g->is_number() || !std::isfinite(g->get<double>()) || !std::isfinite(g->get<float>()))
        throw Error(gwhere + ": '" + g.key() + "': expected a finite number, got " + g->dump());
      feed.grade_weights.emplace_back(g.key(), g->get<float>());
    }
  } else {
    for (const auto& name : feed.log.signal_names) feed.grade_weights.emplace_back(name, 1.0f);
  }

  if (auto it = meta.find("exclude"); it != meta.end()) {
    feed.exclude = detail::get_string(meta, "exclude", where);
    if (feed.exclude != "engaged" && feed.log.signal_index(feed.exclude) < 0)
      throw Error(where + ": field 'exclude': expected \"engaged\" or a signal of the log (" +
                  join(feed.log.signal_names) + "), got '" + feed.exclude + "'");
  }
  for (const char* key : {"days", "source"})
    if (auto it = meta.find(key); it != meta.end() && !it->is_object())
      throw Error(where + ": field '" + key + "': expected an object, got " + detail::json_type_name(*it));
  return feed;
}

}  // namespace funnel
