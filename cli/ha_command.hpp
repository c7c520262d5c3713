// `natctl ha status|primary|backup|fault`: natctld's high availability (docs/HA.md).
// keepalived's notify script runs `natctl ha primary` (and so on) on each transition.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/global_options.hpp"

namespace natctl::cli {

void add_ha_command(CLI::App& app, const GlobalOptions& globals, int& exit_code);

// What `natctl ha status` prints for GET /v1/ha, and a role change for PUT /v1/ha/role.
std::string format_ha_status(const nlohmann::json& status);
std::string format_ha_change(const nlohmann::json& change);

}  // namespace natctl::cli
