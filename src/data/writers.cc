#include <algorithm>

#include <nlohmann/json.hpp>

#include "funnel/data.h"
#include "util/fs.h"

namespace funnel {

void write_queries(const std::filesystem::path& path, const std::vector<Query>& queries) {
  detail::AtomicFile f(path);
  for (const auto& q : queries) f.stream() << nlohmann::json{{"_id", q.id}, {"text", q.text}}.dump() << '\n';
  f.commit();
}

void write_qrels(const std::filesystem::path& path, const std::vector<std::pair<std::string, metrics::Judgments>>& qrels) {
  detail::AtomicFile f(path);
  f.stream() << "query-id\tcorpus-id\tscore\n";
  for (const auto& [qid, judged] : qrels) {
    std::vector<std::pair<std::string, int>> docs(judged.begin(), judged.end());
    std::sort(docs.begin(), docs.end());
    for (const auto& [doc, grade] : docs) f.stream() << qid << '\t' << doc << '\t' << grade << '\n';
  }
  f.commit();
}

}  // namespace funnel
