// The host settings a NAT gateway depends on, checked against the model: IPv4 forwarding,
// reverse-path filtering on the interfaces the model names, the conntrack table's size
// against what the port budgets admit, conntrack accounting for the session log. natctld
// checks them at start, after every new revision and for `natctl status`, logs a warning
// per problem, and with host_settings "set" sets what is safe to set (never
// nf_conntrack_max: memory is the admin's call).
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/model/types.hpp"

namespace natctl::daemon {

enum class HostSettingsMode { Check, Set };

// Sysctls of natctld's network namespace, by their path under /proc/sys
// ("net/ipv4/conf/eth0.100/rp_filter"); the root is a directory of files for the tests.
class Sysctls {
  public:
    explicit Sysctls(std::filesystem::path root = "/proc/sys") : root_(std::move(root)) {}
    // The value without its trailing newline; nothing when the file does not exist or
    // cannot be read (no such interface, conntrack module not loaded yet).
    std::optional<std::string> read(std::string_view path) const;
    std::expected<void, std::string> write(std::string_view path, std::string_view value) const;

  private:
    std::filesystem::path root_;
};

// One setting that does not suit the model.
struct HostFinding {
    std::string setting;  // as sysctl(8) names it: net.ipv4.conf.eth0/100.rp_filter
    std::string value;    // what the host has
    std::string wanted;   // what the model needs
    std::string reason;   // why, in a sentence
    // host_settings "set" writes `write_value` to `write_path`; empty: not safe to set.
    std::string write_path;
    std::string write_value;

    bool settable() const { return !write_path.empty(); }
    std::string describe() const;
    bool operator==(const HostFinding&) const = default;
};

struct HostReport {
    nlohmann::json values;  // the settings read, for natctl status
    std::vector<HostFinding> findings;
};

HostReport check_host(const model::Model& model, const Sysctls& sysctls);

// Writes every settable finding; one line per change made or refused.
std::vector<std::string> apply_host_settings(const HostReport& report, const Sysctls& sysctls);

// The connections the port budgets admit towards one destination: per gateway, EIPs (one
// address for a masquerade gateway) x port_budget_per_eip. A conntrack table smaller than
// that fills before a budget refuses anything, and then the kernel drops new connections
// of every gateway alike.
std::uint64_t budgeted_connections(const model::Model& model);

nlohmann::json to_json(const HostReport& report, HostSettingsMode mode);

}  // namespace natctl::daemon
