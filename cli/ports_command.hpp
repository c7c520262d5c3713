// `natctl ports` and `natctl sessions`: the conntrack accounting of natctld (GET /v1/ports,
// GET /v1/sessions). The table formatting is separate so that unit tests can check it.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/global_options.hpp"

namespace natctl::cli {

void add_ports_command(CLI::App& app, const GlobalOptions& globals, int& exit_code);
void add_sessions_command(CLI::App& app, const GlobalOptions& globals, int& exit_code);

// The tables `natctl ports` and `natctl sessions` print for an answer of the API.
std::string format_ports(const nlohmann::json& ports);
std::string format_sessions(const nlohmann::json& sessions);

}  // namespace natctl::cli
