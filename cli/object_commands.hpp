// The imperative verbs, mirroring the cloud APIs: gateway, eip, snat, dnat, route and
// ipv4-gateway, each editing one object through natctld's per-object endpoints.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/global_options.hpp"

namespace natctl::cli {

// Registers the six command groups on `app`; the exit code of the verb that runs goes to
// `exit_code`.
void add_object_commands(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace natctl::cli
