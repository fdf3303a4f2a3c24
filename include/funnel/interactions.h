// Interaction logs for recommendation feeds: one row per (user, item, time,
// signals), read from TSV or JSONL (docs/formats.md, "Interactions (feeds)"), and
// their split into training, dev and test parts (by time, by given files,
// or at random per user when the log has no time).
//
// Items are the corpus: an interaction's item is a corpus row. Users are
// named by the log itself (no user table is required); optional user
// features come from users.jsonl. Readers are strict like the others in
// funnel/data.h: errors read "PATH:LINE: field 'NAME': what was expected".
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/data.h"

namespace funnel {

// One logged interaction. `user` indexes Interactions::user_ids, `item` is a
// corpus row; `time` is in seconds of any epoch (kNoTime when the log has no
// time column). Its signals are Interactions::signals[i * n_signals() ...].
struct Interaction {
  static constexpr std::int64_t kNoTime = std::numeric_limits<std::int64_t>::min();
  std::uint32_t user = 0;
  std::uint32_t item = 0;
  std::int64_t time = kNoTime;
};

// A log in memory, rows in file order.
struct Interactions {
  std::vector<std::string> signal_names;  // in column order; unique, non-empty
  std::vector<std::string> user_ids;      // user row -> id, in order of first appearance
  std::unordered_map<std::string, std::uint32_t> user_row;  // id -> user row
  std::vector<Interaction> rows;
  std::vector<float> signals;             // rows.size() * signal_names.size(), row-major
  bool has_time = false;                  // every row has a time (a log has all or none)

  std::size_t n_signals() const { return signal_names.size(); }
  float signal(std::size_t row, std::size_t s) const { return signals[row * signal_names.size() + s]; }
  // Index of signal `name`, or -1.
  int signal_index(const std::string& name) const;
  // The user row of `id`, adding the user if new.
  std::uint32_t add_user(const std::string& id);
};

// Reads a log: TSV when the name ends in ".tsv" (a header line "user item
// [time] SIGNAL..." naming the columns, tab-separated), JSONL when it ends in
// ".jsonl" ({"user", "item", "time"?, "signals": {NAME: number}} a line; the
// signal names are the union over the file, missing ones read 0). Item ids
// must be in `corpus`. Users are added to `into` (whose users and signal
// names may already be set by an earlier part of the same log: a later part
// must name the same signals, in any order; a later JSONL part may leave
// some out, which read 0; `has_time` must agree). Throws funnel::Error naming
// file:line and the field; `into` is then left as it was.
void read_interactions(const std::filesystem::path& path, const Corpus& corpus, Interactions& into);
Interactions read_interactions(const std::filesystem::path& path, const Corpus& corpus);

// Writes the TSV form (header, then one row a line; time column only when
// `log.has_time`; signals with up to 6 significant digits). Atomic.
void write_interactions_tsv(const std::filesystem::path& path, const Interactions& log, const Corpus& corpus);

// Which part of the log a row belongs to.
enum class LogPart : std::uint8_t { kTrain = 0, kDev = 1, kTest = 2 };

// A feed data folder's log and split, from DIR/feed/feed.json:
//   {"log": "interactions.tsv",
//    "split": {"dev_from": T, "test_from": T}          by time: [.., dev_from) train,
//                                                      [dev_from, test_from) dev, rest test
//          | {"train": F, "dev": F, "test": F}        given files (parts of one log)
//          | {"random": {"seed": S, "dev": N, "test": N}}  per user, N rows each to dev
//                                                      and test (users with more than
//                                                      dev + test rows), by a seeded shuffle
//    "grade": {SIGNAL: weight, ...},                   engagement grade of a row (below)
//    "exclude": SIGNAL | "engaged",                    what a user is not recommended again
//    "days": {"day_seconds": 86400, ...},              optional, informative
//    "source": {...}}                                  optional, informative (an importer's record)
// Paths are relative to DIR/feed. Any other key is an error. The random
// split's exact rule (which rows a seed holds out) is in docs/formats.md.
struct FeedLog {
  Interactions log;
  std::vector<LogPart> part;               // per row of `log`
  std::vector<std::pair<std::string, float>> grade_weights;  // (signal, weight)
  std::string exclude = "engaged";         // a signal name, or "engaged" (grade > 0)
  std::int64_t dev_from = Interaction::kNoTime, test_from = Interaction::kNoTime;  // time split only
  nlohmann::json meta;                     // feed.json as read

  // Engagement grade of row `i`: sum of weight * signal over grade_weights
  // (0 = not engaged). One formula for training, serving and evaluation.
  float grade(std::size_t i) const;
  // Whether row `i` makes its item one the user is not recommended again:
  // grade(i) > 0 for "engaged", else signal `exclude` > 0.
  bool excludes(std::size_t i) const;
  // grade(i) of every row (log.rows.size()), looking each signal up once.
  std::vector<float> grades() const;
};

// Reads DIR/feed/feed.json, the log and the split, against DIR's corpus
// (`corpus`, already read). Throws funnel::Error naming the file and field.
FeedLog load_feed_log(const std::filesystem::path& data_dir, const Corpus& corpus);

// Importing "user item" pair files (one pair a line, separated by spaces or
// a tab), such as the Taobao multi-behaviour logs: one file per behaviour
// for training, and held-out files for dev and test.
struct PairsImport {
  // (signal name, pair file), e.g. {"purchase", buy.txt}, {"cart", cart.txt};
  // at least one; names unique, non-empty, not "user", "item" or "time".
  std::vector<std::pair<std::string, std::filesystem::path>> train;
  // Held-out pair files; an empty path: no dev (or no test) part.
  std::filesystem::path dev, test;
  // The signal the dev and test rows carry (value 1); one of `train`'s names.
  std::string held_out_signal = "purchase";
  // Taobao's valid.txt is inside buy.txt: drop the (user, item) pairs of dev
  // from the `held_out_signal` file before building train.
  bool remove_dev_from_train = true;
};

struct PairsImportStats {
  std::size_t users = 0, items = 0;  // distinct, over all files
  std::size_t train_rows = 0, dev_rows = 0, test_rows = 0;
  std::size_t removed_from_train = 0;  // distinct pairs dropped by remove_dev_from_train
};

// Writes a feed data folder OUT (docs/formats.md, "Interactions (feeds)"):
//   corpus.jsonl     one {"_id": item, "title": "", "text": ""} per distinct
//                    item of all files, sorted numerically when every id is
//                    an integer (else by byte order)
//   feed/train.tsv   header "user<TAB>item<TAB>SIGNAL...", one row per
//                    distinct (user, item) pair of the train files, each
//                    signal 1 when the pair is in that signal's file
//   feed/dev.tsv, feed/test.tsv   one row per distinct pair of the file,
//                    `held_out_signal` 1 and the other signals 0
//   feed/feed.json   {"split": {"train", "dev", "test"}, "grade": {each
//                    train signal: 1}, "exclude": held_out_signal,
//                    "source": {"importer": "pairs", files and counts}}
// Rows are sorted by user, then item (numerically when all ids are integers).
// The folder is built under a temporary name and renamed into place. A
// non-empty OUT is refused unless `overwrite`, and even then unless an
// earlier pair import wrote it. Throws funnel::Error: a malformed line reads
// "FILE:LINE: expected 'user item'".
PairsImportStats import_pairs(const PairsImport& spec, const std::filesystem::path& out, bool overwrite);

}  // namespace funnel
