#include "controller/daemon/config.hpp"

#include <fmt/format.h>

#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

namespace natctl::daemon {
namespace {

std::expected<std::uint64_t, std::string> unsigned_field(const nlohmann::json& value,
                                                         std::string_view key, std::uint64_t min,
                                                         std::uint64_t max) {
    if (!value.is_number_unsigned())
        return std::unexpected(fmt::format("{}: expected a non-negative integer", key));
    auto number = value.get<std::uint64_t>();
    if (number < min || number > max)
        return std::unexpected(fmt::format("{}: {} is outside {}-{}", key, number, min, max));
    return number;
}

// "journal" or {"path": "/absolute/file", "max_bytes": N, "keep": K}.
std::expected<std::optional<SessionLogFile>, std::string> session_log_field(
    const nlohmann::json& value) {
    if (value.is_string()) {
        if (value.get<std::string>() == "journal") return std::nullopt;
        return std::unexpected(fmt::format(
            "session_log: unknown destination '{}' (\"journal\" or an object with \"path\")",
            value.get<std::string>()));
    }
    if (!value.is_object())
        return std::unexpected("session_log: expected \"journal\" or an object with \"path\"");
    SessionLogFile file;
    bool has_path = false;
    for (const auto& [key, field] : value.items()) {
        if (key == "path") {
            if (!field.is_string() || field.get<std::string>().empty())
                return std::unexpected("session_log.path: expected a file name");
            file.path = field.get<std::string>();
            if (!file.path.is_absolute())
                return std::unexpected(
                    fmt::format("session_log.path: '{}' is relative (natctld runs from /)",
                                file.path.string()));
            has_path = true;
        } else if (key == "max_bytes") {
            // A line is a few hundred bytes: below 64 KiB the file would rotate every few
            // hundred sessions.
            auto n = unsigned_field(field, "session_log.max_bytes", 64u << 10, 1ull << 40);
            if (!n) return std::unexpected(n.error());
            file.max_bytes = *n;
        } else if (key == "keep") {
            auto n = unsigned_field(field, "session_log.keep", 0, 1000);
            if (!n) return std::unexpected(n.error());
            file.keep = static_cast<unsigned>(*n);
        } else {
            return std::unexpected(fmt::format("session_log.{}: unknown setting", key));
        }
    }
    if (!has_path) return std::unexpected("session_log: \"path\" is missing");
    return file;
}

}  // namespace

std::expected<DaemonConfig, std::string> parse_daemon_config(std::string_view text) {
    auto document = nlohmann::json::parse(text, nullptr, false);
    if (document.is_discarded()) return std::unexpected("not valid JSON");
    if (!document.is_object()) return std::unexpected("expected a JSON object");

    DaemonConfig config;
    for (const auto& [key, value] : document.items()) {
        if (key == "log_level") {
            if (!value.is_string()) return std::unexpected("log_level: expected a string");
            auto name = value.get<std::string>();
            auto level = spdlog::level::from_str(name);
            // from_str maps every unknown name to "off": only accept what it really knows.
            if (level == spdlog::level::off && name != "off")
                return std::unexpected(
                    fmt::format("log_level: unknown level '{}' (trace, debug, info, warn, error, "
                                "critical, off)",
                                name));
            config.log_level = level;
        } else if (key == "revisions_kept") {
            auto n = unsigned_field(value, key, 1, 100000);
            if (!n) return std::unexpected(n.error());
            config.revisions_kept = *n;
        } else if (key == "compact_after_records") {
            auto n = unsigned_field(value, key, 1, 10000000);
            if (!n) return std::unexpected(n.error());
            config.compact_after_records = *n;
        } else if (key == "drift_debounce_ms") {
            // Above 900 ms a repair could no longer finish within a second of the change.
            auto n = unsigned_field(value, key, 0, 900);
            if (!n) return std::unexpected(n.error());
            config.drift_debounce = std::chrono::milliseconds(*n);
        } else if (key == "conntrack_event_buffer_bytes") {
            // Below 4 KiB the kernel rounds up anyway; above 1 GiB is a typo, not a setting.
            auto n = unsigned_field(value, key, 4096, 1u << 30);
            if (!n) return std::unexpected(n.error());
            config.conntrack_event_buffer_bytes = *n;
        } else if (key == "session_log") {
            auto file = session_log_field(value);
            if (!file) return std::unexpected(file.error());
            config.session_log_file = *file;
        } else if (key == "host_settings") {
            if (value == "check")
                config.host_settings = HostSettingsMode::Check;
            else if (value == "set")
                config.host_settings = HostSettingsMode::Set;
            else
                return std::unexpected("host_settings: expected \"check\" or \"set\"");
        } else if (key == "ha") {
            auto ha = parse_ha_settings(value);
            if (!ha) return std::unexpected(ha.error());
            config.ha = std::move(*ha);
        } else if (key == "resync_interval_s") {
            auto n = unsigned_field(value, key, 0, 86400);
            if (!n) return std::unexpected(n.error());
            config.resync_interval = std::chrono::seconds(*n);
        } else {
            return std::unexpected(fmt::format("{}: unknown setting", key));
        }
    }
    return config;
}

std::expected<DaemonConfig, std::string> load_daemon_config(const std::filesystem::path& path) {
    if (path.empty()) return DaemonConfig{};
    std::ifstream in(path);
    if (!in) return std::unexpected(fmt::format("{}: cannot read", path.string()));
    std::stringstream text;
    text << in.rdbuf();
    auto config = parse_daemon_config(text.str());
    if (!config) return std::unexpected(fmt::format("{}: {}", path.string(), config.error()));
    if (config->ha)
        if (auto resolved = resolve_conntrackd_socket(*config->ha); !resolved)
            return std::unexpected(fmt::format("{}: {}", path.string(), resolved.error()));
    return config;
}

}  // namespace natctl::daemon
