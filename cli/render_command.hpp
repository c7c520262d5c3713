// `natctl render -f FILE`: compile a model offline (no daemon, no root) and print the
// `nft -f` file it becomes, with the ip rules, routes and addresses as comments.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/global_options.hpp"

namespace natctl::cli {

// Registers the subcommand on `app`. When it runs, its exit code is stored in `exit_code`.
void add_render_command(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace natctl::cli
