// Embedding the engine: open an index built with models, run a cascade
// config on one query, print the response with its per-stage trace.
//
//   build/examples/example_search var/demo/index configs/demo-full.json "peppa pig"
#include <cstdio>

#include <funnel/funnel.h>

int main(int argc, char** argv) try {
  if (argc != 4) return std::fprintf(stderr, "usage: %s INDEX CASCADE.json QUERY\n", argv[0]), 2;
  const funnel::Engine engine = funnel::Engine::from_files(argv[1], argv[2]);
  funnel::Request request;
  request.query = argv[3];
  request.k = 5;
  const funnel::Response response = engine.run(request);
  std::printf("%s\n", funnel::response_to_json(response, request).dump(2).c_str());
} catch (const funnel::Error& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
