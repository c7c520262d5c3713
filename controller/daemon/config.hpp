// natctld's own settings (--config FILE, JSON), as opposed to the model it manages. Read at
// start-up and again on SIGHUP; a file that does not parse is refused whole so that a typo
// never silently resets a setting to its default.
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/common.h>

#include "controller/daemon/ha_settings.hpp"
#include "controller/daemon/host_settings.hpp"

namespace natctl::daemon {

// A session log written to a file: rotated once it would exceed max_bytes, keeping
// path.1 .. path.<keep>.
struct SessionLogFile {
    std::filesystem::path path;
    std::uint64_t max_bytes = 100u << 20;
    unsigned keep = 5;
    bool operator==(const SessionLogFile&) const = default;
};

struct DaemonConfig {
    spdlog::level::level_enum log_level = spdlog::level::info;
    // Store options: the store is opened once, so a change needs a restart (SIGHUP says so).
    std::size_t revisions_kept = 20;
    std::size_t compact_after_records = 1000;
    // Kernel change notifications are coalesced for this long before one reconcile: a
    // burst of `nft` commands costs one dump, and drift is still repaired well within 1 s.
    std::chrono::milliseconds drift_debounce{150};
    // A full reconcile even without notifications, in case one was lost (0: never).
    std::chrono::seconds resync_interval{300};
    // Receive buffer of the conntrack event socket. KERNEL-NOTES: the default ~208 KB lost
    // events in a 200k burst, 32 MB lost none. A smaller buffer loses events sooner (they
    // are then re-dumped: counts converge, at the cost of a dump). Needs a restart.
    std::size_t conntrack_event_buffer_bytes = 32u << 20;
    // Where the NAT session log of gateways with session_log errors / all goes: the
    // systemd journal ("journal", the default) or a file ({"path", "max_bytes", "keep"}).
    // The destination needs a restart; SIGHUP reopens the file (after logrotate).
    std::optional<SessionLogFile> session_log_file;
    // "check": warn about host settings that do not suit the model; "set": also set what
    // is safe to set (host_settings.hpp). SIGHUP applies a change at once.
    HostSettingsMode host_settings = HostSettingsMode::Check;
    // Active/standby high availability (docs/HA.md); absent: a single node. Restart.
    std::optional<HaSettings> ha;

    bool operator==(const DaemonConfig&) const = default;
};

// Every key is optional; unknown keys, wrong types and out-of-range values are errors.
// Example: {"log_level": "debug", "revisions_kept": 50, "drift_debounce_ms": 100,
//           "session_log": {"path": "/var/log/natctl/sessions.jsonl", "keep": 5},
//           "host_settings": "set"}
std::expected<DaemonConfig, std::string> parse_daemon_config(std::string_view text);

// An empty path means "no file": the defaults.
std::expected<DaemonConfig, std::string> load_daemon_config(const std::filesystem::path& path);

}  // namespace natctl::daemon
