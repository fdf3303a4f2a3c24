// Subcommands of the `funnel` CLI. Each add_* registers its options on the
// app and sets the callback that runs it; errors are thrown as funnel::Error
// and turned into exit codes by main().
#pragma once

#include <CLI/CLI.hpp>

namespace funnel::cli {

void add_gen(CLI::App& app);
void add_index(CLI::App& app);
void add_search(CLI::App& app);
void add_eval(CLI::App& app);
void add_fit(CLI::App& app);
void add_experiment(CLI::App& app);
void add_bench(CLI::App& app);
void add_tune(CLI::App& app);
void add_serve(CLI::App& app);
void add_feed(CLI::App& app);

}  // namespace funnel::cli
