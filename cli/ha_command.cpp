#include "cli/ha_command.hpp"

#include <memory>
#include <string_view>

#include <fmt/format.h>

#include "cli/api_format.hpp"
#include "cli/daemon_session.hpp"
#include "cli/exit_codes.hpp"
#include "cli/model_view.hpp"

namespace natctl::cli {
namespace {

using nlohmann::json;

// A field for people: "-" when absent or null, yes / no, milliseconds to a tenth.
std::string field(const json& object, const char* key) {
    if (!object.is_object() || !object.contains(key) || object[key].is_null()) return "-";
    const auto& value = object[key];
    if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
    if (value.is_number_float()) return fmt::format("{:.1f}", value.get<double>());
    return cell_text(value);
}

int run_status(const GlobalOptions& globals) {
    Session session(globals);
    auto status = session.get_json("/v1/ha");
    if (!status) return status.error();
    if (session.json_output())
        print_json(*status);
    else
        fmt::print("{}", format_ha_status(*status));
    return kExitSuccess;
}

int run_role(const GlobalOptions& globals, const std::string& role, const std::string& source) {
    Session session(globals);
    json body = {{"role", role}, {"source", source}};
    auto answer = session.call({"PUT", "/v1/ha/role", {}, body.dump()});
    if (!answer) return answer.error();
    auto document = json::parse(answer->body, nullptr, false);
    if (answer->status == 404 || document.is_discarded() || document.contains("errors")) {
        for (const auto& line : answer_error_lines(answer->status, answer->body))
            fmt::print(stderr, "{}\n", line);
        return kExitRefused;
    }
    if (session.json_output())
        print_json(document);
    else
        fmt::print("{}", format_ha_change(document));
    return document.value("ok", false) ? kExitSuccess : kExitRefused;
}

}  // namespace

std::string format_ha_status(const json& status) {
    const auto& node = status.value("node", json::object());
    const auto& peer = status.value("peer", json::object());
    const auto& conntrackd = status.value("conntrackd", json());
    const auto& takeover = status.value("last_takeover", json::object());
    const auto& change = status.value("last_change", json::object());
    std::string out;
    out += fmt::format("node       {} ({}), revision {}, digest {}, new connections {}\n",
                       field(node, "name"), field(node, "role"), field(node, "revision"),
                       field(node, "digest"),
                       node.value("new_connections_held", false) ? "HELD" : "flow");
    std::string peer_line = fmt::format("peer       {}", field(peer, "name"));
    if (peer.contains("reachable")) {
        if (peer.value("reachable", false))
            peer_line +=
                fmt::format(" ({}), revision {}, digest {}, models {}", field(peer, "role"),
                            field(peer, "revision"), field(peer, "digest"),
                            peer.value("models_match", json()).is_null() ? "unknown"
                            : peer.value("models_match", false)          ? "match"
                                                                         : "DIFFER");
        else
            peer_line +=
                fmt::format(" unreachable at {}: {} (last seen {})", field(peer, "metrics"),
                            field(peer, "error"), field(peer, "last_seen"));
    } else {
        peer_line += " (not watched: no ha.peer_metrics)";
    }
    out += peer_line + "\n";
    if (conntrackd.is_object())
        out += fmt::format(
            "conntrackd {}: internal cache {}, external cache {}, lost messages {}, errors "
            "send {} / receive {}\n",
            conntrackd.value("running", false) ? "running" : "NOT ANSWERING",
            field(conntrackd, "internal_entries"), field(conntrackd, "external_entries"),
            field(conntrackd, "lost_messages"), field(conntrackd, "send_errors"),
            field(conntrackd, "receive_errors"));
    else
        out += "conntrackd not configured: connections are not synchronised\n";
    out += fmt::format(
        "last change {} ({}); takeovers {}, last at {} in {} ms (commit {} ms); "
        "failed steps {}\n",
        field(change, "time"), field(change, "source"), field(status, "takeovers"),
        field(takeover, "time"), field(takeover, "took_ms"), field(takeover, "commit_ms"),
        field(status, "failed_steps"));
    return out;
}

std::string format_ha_change(const json& change) {
    std::string out = fmt::format(
        "{} -> {}{} in {} ms\n", field(change, "previous"), field(change, "role"),
        change.value("unchanged", false) ? " (unchanged)" : "", field(change, "took_ms"));
    for (const auto& step : change.value("steps", json::array())) {
        out += fmt::format("  {:<4} {:>8} ms  {}", step.value("ok", false) ? "ok" : "FAIL",
                           field(step, "took_ms"), field(step, "step"));
        if (!step.value("ok", false) && step.contains("detail"))
            out += ": " + field(step, "detail");
        out += "\n";
    }
    return out;
}

void add_ha_command(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    auto* ha = app.add_subcommand("ha", "High availability: role, peer, conntrackd (docs/HA.md)");
    ha->require_subcommand(1);
    auto* status = ha->add_subcommand("status", "Role, peer, last takeover, conntrackd state");
    status->callback([&globals, &exit_code] { exit_code = run_status(globals); });
    auto source = std::make_shared<std::string>("keepalived");
    for (const char* role : {"primary", "backup", "fault"}) {
        auto* command = ha->add_subcommand(
            role, fmt::format("Make this node {} (for keepalived's notify scripts, when natctld "
                              "does not read keepalived's notify FIFO)",
                              role));
        command->add_option("--source", *source, "Who says so, for the log and status")
            ->capture_default_str();
        command->footer(fmt::format(
            "Example (keepalived.conf, without natctld's \"keepalived\": {{\"notify_fifo\"}}):\n"
            "  notify_{} \"/usr/bin/natctl ha {}\"\n",
            std::string_view(role) == "primary" ? "master" : role, role));
        command->callback(
            [&globals, &exit_code, role, source] { exit_code = run_role(globals, role, *source); });
    }
}

}  // namespace natctl::cli
