// natctld's high-availability settings: the "ha" key of its --config file (docs/HA.md).
#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace natctl::daemon {

struct HaSettings {
    std::string node;          // this node's name, as keepalived and the peer know it
    std::string peer;          // the other node's name
    std::string peer_metrics;  // the peer natctld's metrics endpoint "ADDR:PORT"; empty: none
    // conntrackd's control socket, where each step of a role change goes (the steps of
    // conntrackd's primary-backup.sh); given, or read from conntrackd_config when natctld
    // loads its configuration. Both empty: no connection state sync.
    std::filesystem::path conntrackd_socket;
    std::filesystem::path conntrackd_config;
    std::chrono::milliseconds conntrackd_timeout{30000};
    // keepalived's notify FIFO, read by natctld itself; empty: keepalived's notify scripts
    // call `natctl ha ROLE` instead. An empty instance name follows every VRRP instance.
    std::filesystem::path keepalived_fifo;
    std::string keepalived_instance;
    bool syncs_connections() const { return !conntrackd_socket.empty(); }
    bool operator==(const HaSettings&) const = default;
};

// {"node": "gw-a", "peer": "gw-b", "peer_metrics": "10.255.0.2:9469",
//  "conntrackd": {"config": "/etc/conntrackd/conntrackd.conf" | "socket": "/run/conntrackd.ctl",
//                 "timeout_ms": 30000},
//  "keepalived": {"notify_fifo": "/run/natctl/keepalived.fifo", "instance": "natctl"}};
// errors name the key ("ha.node: ..."). Reads no file: see resolve_conntrackd_socket.
std::expected<HaSettings, std::string> parse_ha_settings(const nlohmann::json& value);

// Fills conntrackd_socket from the UNIX Path of conntrackd_config (when only the config is
// given); the error names ha.conntrackd.config.
std::expected<void, std::string> resolve_conntrackd_socket(HaSettings& settings);

}  // namespace natctl::daemon
