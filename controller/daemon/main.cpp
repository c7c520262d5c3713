// natctld: the natctl controller daemon (DESIGN.md, "Files and processes").
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "controller/daemon/daemon.hpp"

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
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    options.state_dir = state_dir;
    options.socket = socket;
    options.config = config;

    // stderr only: under systemd it goes to the journal, which adds its own timestamps.
    auto logger = spdlog::stderr_color_mt("natctld");
    if (std::getenv("JOURNAL_STREAM") != nullptr) logger->set_pattern("[%l] %v");
    spdlog::set_default_logger(logger);
    spdlog::flush_on(spdlog::level::info);

    return natctl::daemon::run_daemon(options);
}
