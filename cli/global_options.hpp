// Options given before the command, shared by every command that talks to the daemon.
#pragma once

#include <string>

namespace natctl::cli {

enum class OutputFormat { Table, Json };

struct GlobalOptions {
    std::string socket_path = "/run/natctl/natctld.sock";
    OutputFormat output = OutputFormat::Table;
};

}  // namespace natctl::cli
