#include "controller/daemon/ha_settings.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "controller/daemon/conntrackd_client.hpp"

namespace natctl::daemon {
namespace {

std::expected<std::string, std::string> text_field(const nlohmann::json& value,
                                                   std::string_view key) {
    if (!value.is_string() || value.get<std::string>().empty())
        return std::unexpected(fmt::format("ha.{}: expected a non-empty string", key));
    return value.get<std::string>();
}

std::expected<std::filesystem::path, std::string> absolute_path(const nlohmann::json& value,
                                                                const std::string& key) {
    auto text = text_field(value, key);
    if (!text) return std::unexpected(text.error());
    std::filesystem::path path = *text;
    if (!path.is_absolute())
        return std::unexpected(fmt::format("ha.{}: '{}' is relative", key, *text));
    return path;
}

std::expected<void, std::string> parse_conntrackd(const nlohmann::json& value,
                                                  HaSettings& settings) {
    if (!value.is_object())
        return std::unexpected("ha.conntrackd: expected an object with \"config\" or \"socket\"");
    for (const auto& [key, field] : value.items()) {
        if (key == "config" || key == "socket") {
            auto path = absolute_path(field, "conntrackd." + key);
            if (!path) return std::unexpected(path.error());
            (key == "config" ? settings.conntrackd_config : settings.conntrackd_socket) = *path;
        } else if (key == "timeout_ms") {
            if (!field.is_number_unsigned() || field.get<std::uint64_t>() < 100 ||
                field.get<std::uint64_t>() > 600000)
                return std::unexpected("ha.conntrackd.timeout_ms: expected 100-600000");
            settings.conntrackd_timeout = std::chrono::milliseconds(field.get<std::uint64_t>());
        } else {
            return std::unexpected(fmt::format("ha.conntrackd.{}: unknown setting", key));
        }
    }
    if (settings.conntrackd_config.empty() && settings.conntrackd_socket.empty())
        return std::unexpected("ha.conntrackd: \"config\" or \"socket\" is missing");
    return {};
}

std::expected<void, std::string> parse_keepalived(const nlohmann::json& value,
                                                  HaSettings& settings) {
    if (!value.is_object())
        return std::unexpected("ha.keepalived: expected an object with \"notify_fifo\"");
    for (const auto& [key, field] : value.items()) {
        if (key == "notify_fifo") {
            auto path = absolute_path(field, "keepalived.notify_fifo");
            if (!path) return std::unexpected(path.error());
            settings.keepalived_fifo = *path;
        } else if (key == "instance") {
            auto name = text_field(field, "keepalived.instance");
            if (!name) return std::unexpected(name.error());
            settings.keepalived_instance = *name;
        } else {
            return std::unexpected(fmt::format("ha.keepalived.{}: unknown setting", key));
        }
    }
    if (settings.keepalived_fifo.empty())
        return std::unexpected("ha.keepalived: \"notify_fifo\" is missing");
    return {};
}

}  // namespace

std::expected<HaSettings, std::string> parse_ha_settings(const nlohmann::json& value) {
    if (!value.is_object()) return std::unexpected("ha: expected an object with \"node\"");
    HaSettings settings;
    for (const auto& [key, field] : value.items()) {
        if (key == "node" || key == "peer" || key == "peer_metrics") {
            auto text = text_field(field, key);
            if (!text) return std::unexpected(text.error());
            (key == "node"   ? settings.node
             : key == "peer" ? settings.peer
                             : settings.peer_metrics) = *text;
        } else if (key == "conntrackd") {
            if (auto parsed = parse_conntrackd(field, settings); !parsed)
                return std::unexpected(parsed.error());
        } else if (key == "keepalived") {
            if (auto parsed = parse_keepalived(field, settings); !parsed)
                return std::unexpected(parsed.error());
        } else {
            return std::unexpected(fmt::format("ha.{}: unknown setting", key));
        }
    }
    if (settings.node.empty()) return std::unexpected("ha: \"node\" is missing");
    return settings;
}

std::expected<void, std::string> resolve_conntrackd_socket(HaSettings& settings) {
    if (!settings.conntrackd_socket.empty() || settings.conntrackd_config.empty()) return {};
    const auto& config = settings.conntrackd_config;
    std::ifstream in(config);
    if (!in)
        return std::unexpected(
            fmt::format("ha.conntrackd.config: {}: cannot read", config.string()));
    std::stringstream text;
    text << in.rdbuf();
    auto socket = conntrackd_socket_path(text.str());
    if (!socket)
        return std::unexpected(fmt::format(
            "ha.conntrackd.config: {} names no control socket (General {{ UNIX {{ Path ... }} }})",
            config.string()));
    settings.conntrackd_socket = *socket;
    return {};
}

}  // namespace natctl::daemon
