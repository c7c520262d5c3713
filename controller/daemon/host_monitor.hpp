// Keeps natctld's view of the host settings current (host_settings.hpp): checks at start,
// then every few seconds (a handful of /proc/sys reads) so that a new revision's interfaces
// and an admin's change at run time are seen; logs a warning when a problem appears and a
// note when it is gone, never the same warning twice in a row. With host_settings "set" it
// first sets what is safe to set.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/daemon/host_settings.hpp"

namespace natctl::daemon {

class HostMonitor {
  public:
    using ModelSource = std::function<const model::Model&()>;
    static constexpr std::chrono::seconds kInterval{5};

    HostMonitor(boost::asio::io_context& io, ModelSource model, HostSettingsMode mode,
                Sysctls sysctls = Sysctls());

    // Checks now (logging what it finds), then every kInterval.
    void start();
    void stop() { timer_.cancel(); }
    // A re-read setting (SIGHUP): takes effect at once.
    void set_mode(HostSettingsMode mode);
    // A fresh check for GET /v1/status: what the host has now.
    nlohmann::json status() const;

  private:
    void check();
    void arm();

    ModelSource model_;
    HostSettingsMode mode_;
    Sysctls sysctls_;
    boost::asio::steady_timer timer_;
    std::vector<std::string> logged_;  // the problems last logged, still current
};

}  // namespace natctl::daemon
