#include "controller/daemon/ha_settings.hpp"

#include <fmt/format.h>

namespace natctl::daemon {
namespace {

std::expected<std::string, std::string> text_field(const nlohmann::json& value,
                                                   std::string_view key) {
    if (!value.is_string() || value.get<std::string>().empty())
        return std::unexpected(fmt::format("ha.{}: expected a non-empty string", key));
    return value.get<std::string>();
}

std::expected<void, std::string> parse_conntrackd(const nlohmann::json& value,
                                                  HaSettings& settings) {
    if (!value.is_object())
        return std::unexpected("ha.conntrackd: expected an object with \"config\"");
    for (const auto& [key, field] : value.items()) {
        if (key == "command" || key == "config") {
            auto text = text_field(field, "conntrackd." + key);
            if (!text) return std::unexpected(text.error());
            std::filesystem::path path = *text;
            if (!path.is_absolute())
                return std::unexpected(
                    fmt::format("ha.conntrackd.{}: '{}' is relative", key, *text));
            (key == "command" ? settings.conntrackd : settings.conntrackd_config) = path;
        } else if (key == "timeout_ms") {
            if (!field.is_number_unsigned() || field.get<std::uint64_t>() < 100 ||
                field.get<std::uint64_t>() > 600000)
                return std::unexpected("ha.conntrackd.timeout_ms: expected 100-600000");
            settings.conntrackd_timeout = std::chrono::milliseconds(field.get<std::uint64_t>());
        } else {
            return std::unexpected(fmt::format("ha.conntrackd.{}: unknown setting", key));
        }
    }
    if (settings.conntrackd_config.empty())
        return std::unexpected("ha.conntrackd: \"config\" is missing");
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
        } else {
            return std::unexpected(fmt::format("ha.{}: unknown setting", key));
        }
    }
    if (settings.node.empty()) return std::unexpected("ha: \"node\" is missing");
    return settings;
}

}  // namespace natctl::daemon
