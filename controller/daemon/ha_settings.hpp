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
    // conntrackd, run with "-C <config>" for each step of a role change (the steps of
    // conntrackd's primary-backup.sh); empty config: no connection state sync.
    std::filesystem::path conntrackd = "/usr/sbin/conntrackd";
    std::filesystem::path conntrackd_config;
    std::chrono::milliseconds conntrackd_timeout{30000};
    bool operator==(const HaSettings&) const = default;
};

// {"node": "gw-a", "peer": "gw-b", "peer_metrics": "10.255.0.2:9469",
//  "conntrackd": {"command": "/usr/sbin/conntrackd", "config": "/etc/conntrackd/conntrackd.conf",
//                 "timeout_ms": 30000}}; errors name the key ("ha.node: ...").
std::expected<HaSettings, std::string> parse_ha_settings(const nlohmann::json& value);

}  // namespace natctl::daemon
