// natctld's wiring: the store, the long-lived netlink sockets, the reconciler-backed data
// plane, the API server, kernel change notifications, signals and the systemd watchdog,
// all on one io_context thread, so that an API write and a drift repair never interleave.
#pragma once

#include <filesystem>
#include <string>

namespace natctl::daemon {

struct DaemonOptions {
    std::filesystem::path state_dir = "/var/lib/natctl";
    std::filesystem::path socket = "/run/natctl/natctld.sock";
    std::string metrics = "127.0.0.1:9469";
    std::filesystem::path config;  // empty: built-in defaults
};

// Runs until SIGTERM / SIGINT; returns the process exit status (0 after a clean stop,
// 1 when it could not start: unreadable config or state, no netlink, socket taken).
int run_daemon(const DaemonOptions& options);

}  // namespace natctl::daemon
