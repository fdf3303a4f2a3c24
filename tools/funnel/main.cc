// funnel: the command-line front end of the engine.
//   funnel gen         generate the synthetic video-search world
//   funnel index       build an index folder from a corpus
//   funnel search      run one query through the cascade
//   funnel eval        evaluate the cascade on judged queries
//   funnel fit         train a model of the cascade
//   funnel experiment  cross-validation and ablations
//   funnel bench       benchmarks
//   funnel serve       the cascade as an HTTP service
// Exit status: 0 success, 1 bad input or failed operation (funnel::Error),
// 2 usage error, 3 internal error.
#include <cstdio>

#include "commands.h"
#include "funnel/error.h"

int main(int argc, char** argv) {
  CLI::App app{"funnel: a multi-stage ranking engine for search and recommendation"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "funnel 0.1.0");
  funnel::cli::add_gen(app);
  funnel::cli::add_index(app);
  funnel::cli::add_search(app);
  funnel::cli::add_eval(app);
  funnel::cli::add_fit(app);
  funnel::cli::add_experiment(app);
  funnel::cli::add_tune(app);
  funnel::cli::add_bench(app);
  funnel::cli::add_serve(app);
  funnel::cli::add_feed(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; usage errors exit 2.
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const funnel::Error& e) {
    std::fprintf(stderr, "funnel: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "funnel: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}
