#include "controller/daemon/host_monitor.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace natctl::daemon {

HostMonitor::HostMonitor(boost::asio::io_context& io, ModelSource model, HostSettingsMode mode,
                         Sysctls sysctls)
    : model_(std::move(model)), mode_(mode), sysctls_(std::move(sysctls)), timer_(io) {}

void HostMonitor::start() {
    check();
    arm();
}

void HostMonitor::set_mode(HostSettingsMode mode) {
    mode_ = mode;
    check();
}

nlohmann::json HostMonitor::status() const {
    return to_json(check_host(model_(), sysctls_), mode_);
}

void HostMonitor::check() {
    auto report = check_host(model_(), sysctls_);
    if (mode_ == HostSettingsMode::Set &&
        std::ranges::any_of(report.findings, &HostFinding::settable)) {
        for (const auto& line : apply_host_settings(report, sysctls_))
            spdlog::info("host_settings \"set\": {}", line);
        report = check_host(model_(), sysctls_);
    }
    std::vector<std::string> current;
    for (const auto& finding : report.findings)
        current.push_back(finding.describe());
    for (const auto& line : current)
        if (std::ranges::find(logged_, line) == logged_.end()) spdlog::warn("host: {}", line);
    for (const auto& line : logged_)
        if (std::ranges::find(current, line) == current.end())
            spdlog::info("host: no longer the case: {}", line);
    logged_ = std::move(current);
}

void HostMonitor::arm() {
    timer_.expires_after(kInterval);
    timer_.async_wait([this](const boost::system::error_code& error) {
        if (error) return;
        check();
        arm();
    });
}

}  // namespace natctl::daemon
