// In-memory forms of funnel's input files and their strict readers.
// The file formats are specified in docs/formats.md.
//
// Every reader is strict: a malformed line, a missing or empty id, a
// duplicate id, a field of the wrong type, bytes that are not UTF-8 or a
// vector of the wrong dimension throw funnel::Error with a message of the
// form "PATH:LINE: field 'NAME': what was expected". Readers never write.
// Unknown fields are ignored (BEIR files carry e.g. "metadata").
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "funnel/metrics.h"

namespace funnel {

// One document of a corpus (a video, a product, an abstract).
struct Doc {
  std::string id;                 // "id" or BEIR "_id"; unique, non-empty
  std::string title;              // may be empty
  std::string text;               // may be empty
  std::vector<std::string> tags;  // optional
  std::string author;             // optional, "" when absent
  std::string category;           // optional, "" when absent
  std::vector<float> image_vec;   // optional; one dimension per corpus
  // Publication time, in seconds of the same epoch as the interaction log's
  // `time` (funnel/interactions.h); optional ("published" in corpus.jsonl).
  std::optional<std::int64_t> published;
};

// All docs of a corpus, in file order. Docs are addressed by their row
// (uint32) inside the engine and by their id outside it.
struct Corpus {
  std::vector<Doc> docs;
  std::unordered_map<std::string, std::uint32_t> row_of;  // id -> row
  int image_dim = 0;  // dimension of image_vec, 0 if no doc has one

  // Row of `id`, or nullopt.
  std::optional<std::uint32_t> find(const std::string& id) const;
};

struct Query {
  std::string id;    // "id" or "_id"; unique, non-empty
  std::string text;  // non-empty
};

// query id -> (doc id -> grade). Only the pairs listed in the file.
using Qrels = std::unordered_map<std::string, metrics::Judgments>;

// One shown item with the user's feedback on it.
struct Impression {
  std::string request_id;
  std::string query_id;
  std::string user_id;
  std::string doc_id;
  int position = 0;     // 0-based slot on the result page
  bool click = false;
  float watch = 0;      // fraction of the video watched, 0..1
  bool finish = false;
  bool like = false;
  bool share = false;
  bool follow = false;
};

// Readers. Each throws funnel::Error naming file:line and the field.
Corpus read_corpus(const std::filesystem::path& path);
std::vector<Query> read_queries(const std::filesystem::path& path);
// BEIR qrels TSV: a header line, then "query-id<TAB>corpus-id<TAB>score".
Qrels read_qrels(const std::filesystem::path& path);
std::vector<Impression> read_impressions(const std::filesystem::path& path);

// A data folder in the BEIR layout: corpus.jsonl, queries.jsonl and
// qrels/<split>.tsv; impressions.jsonl when present (logs).
struct Dataset {
  std::filesystem::path dir;
  Corpus corpus;
  std::vector<Query> queries;
};

// Reads corpus.jsonl and queries.jsonl of `dir`.
Dataset load_dataset(const std::filesystem::path& dir);
// Reads dir/qrels/<split>.tsv. Doc ids not in the corpus are tolerated, as
// trec_eval does (they count as relevant docs never retrieved).
Qrels load_qrels(const std::filesystem::path& dir, const std::string& split);

// Writers of the same formats (docs/formats.md), for tools that derive data
// folders (cross-validation folds). Each writes a temporary file and renames
// it into place; throws funnel::Error if writing fails.
// queries.jsonl: one {"_id", "text"} a line, in the given order.
void write_queries(const std::filesystem::path& path, const std::vector<Query>& queries);
// BEIR qrels TSV with its header; queries in the given order, each query's
// docs sorted by id.
void write_qrels(const std::filesystem::path& path,
                 const std::vector<std::pair<std::string, metrics::Judgments>>& qrels);

// Writes a TREC run file: "qid Q0 docid rank score tag", rank from 1.
// Written to a temporary name and renamed into place.
struct RunEntry {
  std::string query_id;
  std::vector<std::pair<std::string, double>> ranked;  // (doc id, score)
};
void write_trec_run(const std::filesystem::path& path,
                    const std::vector<RunEntry>& run, const std::string& tag);
// The same lines to a stream (scores with 9 significant digits, so that
// near-ties keep their order when trec_eval re-sorts by score).
void write_trec_run(std::ostream& out, const std::vector<RunEntry>& run, const std::string& tag);

}  // namespace funnel
