// Opens an index with the built-in cascade and prints the top doc's id and
// the stages it passed: proof that the installed headers, library and
// sentencepiece shim work from outside the source tree.
#include <cstdio>

#include <funnel/funnel.h>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  try {
    const funnel::Engine engine(argv[1]);
    const funnel::Response r = engine.search(argv[2], 3);
    if (r.items.empty()) return 3;
    std::printf("top %s stages %zu\n", r.items[0].doc_id.c_str(), r.items[0].marks.size());
    // A model stage too: the pre-rank student the index was built with.
    const funnel::Engine prerank(argv[1], nlohmann::json::parse(R"({"stages": [
      {"type": "recall", "channels": [{"type": "bm25", "quota": 100}]},
      {"type": "prerank", "keep": 10}]})"));
    std::printf("prerank %zu\n", prerank.search(argv[2], 3).items.size());
  } catch (const funnel::Error& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
  return 0;
}
