// A synchronous reload for systemd 252 (Debian 12), which has no Type=notify-reload and ends
// a reload when ExecReload's command exits: `natctld --reload PID` sends SIGHUP and waits
// until natctld has recorded the outcome of that reload next to its API socket, then exits
// 0 (settings taken) or 1 (the file was refused; the running settings stay). natctld also
// tells systemd RELOADING=1 ... READY=1 around the reload.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>

namespace natctl::daemon {

// One line, "PID GENERATION ok" or "PID GENERATION refused: REASON"; generation 0 is the
// start, each SIGHUP adds one.
struct ReloadRecord {
    long pid = 0;
    std::uint64_t generation = 0;
    std::string refused;  // empty: the settings were taken
    bool operator==(const ReloadRecord&) const = default;
};

// In natctld's runtime directory: beside the API socket.
std::filesystem::path reload_record_path(const std::filesystem::path& socket);

// Atomically (a temporary file renamed over the record).
std::expected<void, std::string> write_reload_record(const std::filesystem::path& path,
                                                     const ReloadRecord& record);
std::optional<ReloadRecord> read_reload_record(const std::filesystem::path& path);

// Sends SIGHUP to `pid` and waits for a newer record of that process: its `refused`
// reason, or an error when the process is gone or `timeout` passed.
std::expected<ReloadRecord, std::string> reload_and_wait(pid_t pid,
                                                         const std::filesystem::path& record,
                                                         std::chrono::milliseconds timeout);

}  // namespace natctl::daemon
