// natctld: the natctl controller daemon (docs/DESIGN.md, "Files and processes").
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "controller/daemon/daemon.hpp"
#include "controller/daemon/reload.hpp"

int main(int argc, char** argv) {
    CLI::App app{"natctld: the natctl controller daemon"};
    natctl::daemon::DaemonOptions options;
    std::string state_dir = options.state_dir.string();
    std::string socket = options.socket.string();
    std::string config;
    app.add_option("--state-dir", state_dir, "durable desired state (snapshot + journal)")
        ->capture_default_str();
    app.add_option("--socket", socket, "API socket (HTTP/1.1 over a Unix socket)")
        ->capture_default_str();
    app.add_option("--metrics", options.metrics, "Prometheus metrics address ADDR:PORT")
        ->capture_default_str();
    app.add_option("--config", config, "natctld's own settings (JSON); SIGHUP re-reads it");
    long reload_pid = 0;
    app.add_option("--reload", reload_pid,
                   "Reload the natctld with this PID (same --socket) and wait for the outcome: "
                   "exit 0 when the settings were taken, 1 when refused (systemd's ExecReload)")
        ->type_name("PID")
        ->check(CLI::PositiveNumber);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    options.state_dir = state_dir;
    options.socket = socket;
    options.config = config;

    if (reload_pid > 0) {
        // As long as systemd's default TimeoutStartSec, which also bounds ExecReload.
        auto outcome = natctl::daemon::reload_and_wait(
            static_cast<pid_t>(reload_pid), natctl::daemon::reload_record_path(options.socket),
            std::chrono::seconds(90));
        if (!outcome) {
            std::cerr << "natctld --reload: " << outcome.error() << '\n';
            return 1;
        }
        if (!outcome->refused.empty()) {
            std::cerr << "natctld --reload: settings refused, the running ones stay: "
                      << outcome->refused << '\n';
            return 1;
        }
        return 0;
    }

    // stderr only: under systemd it goes to the journal, which adds its own timestamps.
    auto logger = spdlog::stderr_color_mt("natctld");
    if (std::getenv("JOURNAL_STREAM") != nullptr) logger->set_pattern("[%l] %v");
    spdlog::set_default_logger(logger);
    spdlog::flush_on(spdlog::level::info);

    return natctl::daemon::run_daemon(options);
}
