// Options given before the command, shared by every command that talks to the daemon.
#pragma once

#include <string>

namespace natctl::cli {

enum class OutputFormat { Table, Json };

struct GlobalOptions {
    std::string socket_path = "/run/natctl/natctld.sock";
    OutputFormat output = OutputFormat::Table;
    // Bounds every request, so that a hung daemon fails a script (exit 3) instead of
    // blocking it. Generous: a large apply reconciles the kernel before it answers.
    unsigned timeout_seconds = 60;
};

}  // namespace natctl::cli
