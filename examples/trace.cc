// Embedding the engine, no HTTP client: open an index and a cascade, run one
// request and print its funnel, stage by stage, then each result's score and
// rank through the stages and its predicted actions.
//
//   build/examples/example_trace var/demo/index-prerank configs/demo-rerank.json "peppa pig"
#include <cstdio>

#include <funnel/funnel.h>

int main(int argc, char** argv) try {
  if (argc != 4) return std::fprintf(stderr, "usage: %s INDEX CASCADE.json QUERY\n", argv[0]), 2;
  const funnel::Engine engine = funnel::Engine::from_files(argv[1], argv[2]);
  funnel::Request request;
  request.query = argv[3];
  request.k = 5;
  const funnel::Response r = engine.run(request);

  std::printf("funnel for \"%s\" (%.2f ms)\n", request.query.c_str(), r.total_ms);
  for (const auto& t : r.trace) {
    std::printf("  %-10s %-14s %6zu -> %-6zu %8.2f ms%s\n", t.name.c_str(), t.type.c_str(), t.in, t.out, t.ms,
                t.skipped ? "  (skipped)" : "");
    for (const auto& note : t.notes) std::printf("             note: %s\n", note.c_str());
  }
  for (std::size_t i = 0; i < r.items.size(); ++i) {
    const auto& it = r.items[i];
    std::printf("#%zu %s  %s  score %.4f\n   ", i + 1, it.doc_id.c_str(), it.title.c_str(), it.score);
    for (const auto& m : it.marks)
      std::printf(" %s: rank %u (%.3f)", r.trace[m.stage].name.c_str(), m.rank, m.score);
    std::printf("\n   ");
    for (const auto& [name, p] : it.pxtr) std::printf(" p%s %.3f", name.c_str(), p);
    std::printf("\n");
  }
} catch (const funnel::Error& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
