// The commands that read or replace the whole model through natctld: apply, get, status,
// explain, revisions, rollback.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/global_options.hpp"

namespace natctl::cli {

// Each registers its subcommand on `app`; when it runs, its exit code goes to `exit_code`.
void add_apply_command(CLI::App& app, const GlobalOptions& globals, int& exit_code);
void add_get_command(CLI::App& app, const GlobalOptions& globals, int& exit_code);
void add_status_command(CLI::App& app, const GlobalOptions& globals, int& exit_code);
void add_explain_command(CLI::App& app, const GlobalOptions& globals, int& exit_code);
void add_revision_commands(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace natctl::cli
