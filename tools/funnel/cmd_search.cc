#include <cstdio>
#include <memory>

#include "cascade.h"
#include "commands.h"
#include "funnel/error.h"
#include "funnel/engine.h"

namespace funnel::cli {

void add_search(CLI::App& app) {
  auto* cmd = app.add_subcommand("search", "Run one query through the cascade and print the results");
  struct Args {
    std::string index, config, overrides, user;
    std::vector<std::string> words;
    std::size_t k = 10;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--index", a->index, "Index folder built by `funnel index`")->required();
  cmd->add_option("--k", a->k, "Results to return")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--config", a->config, "Cascade config JSON (default: BM25 recall -> truncate)");
  cmd->add_flag("--json", a->json, "Print the response, with its per-stage trace, as JSON");
  cmd->add_option("--overrides", a->overrides,
                  "Per-request stage overrides as JSON, e.g. '{\"fusion\": {\"weights\": {\"watch\": 3}}}'");
  cmd->add_option("--user", a->user, "User id of the request (alone: a feed request, for a feed cascade)");
  cmd->add_option("query", a->words, "Query text (none with --user: a feed request)");
  cmd->callback([=] {
    std::string where;
    auto cfg = load_cascade(a->config, a->k, where);
    if (a->words.empty() && a->user.empty())
      throw CLI::ValidationError("query", "a query is required (or --user USER alone: a feed request)");
    const Engine engine(a->index, cfg, where);
    Request req;
    for (const auto& w : a->words) req.query += (req.query.empty() ? "" : " ") + w;
    req.k = a->k;
    req.user_id = a->user;
    if (!a->overrides.empty()) {
      req.overrides = nlohmann::json::parse(a->overrides, nullptr, false);
      if (req.overrides.is_discarded()) throw Error("--overrides: not valid JSON");
    }
    const Response resp = engine.run(req);
    if (a->json) {
      std::printf("%s\n", response_to_json(resp, req).dump(2).c_str());
      return;
    }
    for (std::size_t i = 0; i < resp.items.size(); ++i) {
      const auto& it = resp.items[i];
      std::printf("%3zu  %-10s %8.3f  %s\n", i + 1, it.doc_id.c_str(), it.score, it.title.c_str());
    }
    if (resp.items.empty()) std::printf("no results\n");
    std::printf("--\n");
    for (const auto& t : resp.trace) {
      std::printf("%-10s in %6zu  out %6zu  %8.3f ms\n", t.name.c_str(), t.in, t.out, t.ms);
      for (const auto& n : t.notes) std::printf("           note: %s\n", n.c_str());
    }
  });
}

}  // namespace funnel::cli
