#include "cli/ports_command.hpp"

#include <memory>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/api_format.hpp"
#include "cli/daemon_session.hpp"
#include "cli/exit_codes.hpp"
#include "cli/text_table.hpp"

namespace natctl::cli {
namespace {

using nlohmann::json;

std::string text(const json& value) {
    if (value.is_null()) return "-";
    if (value.is_string()) return value.get<std::string>();
    return value.dump();
}

std::string percent(const json& value) {
    return value.is_number() ? fmt::format("{:.1f}%", value.get<double>() * 100.0) : "-";
}

std::string endpoint(const json& tuple, const char* address, const char* port) {
    const auto p = tuple.value(port, 0);
    return p == 0 ? text(tuple.value(address, json()))
                  : fmt::format("{}:{}", text(tuple.value(address, json())), p);
}

struct PortsOptions {
    std::string gateway;
    std::string eip;
    unsigned top = 5;
};

int run_ports(const GlobalOptions& globals, const PortsOptions& options) {
    std::string target = fmt::format("/v1/ports?top={}", options.top);
    if (!options.gateway.empty()) target += "&gateway=" + url_encode(options.gateway);
    if (!options.eip.empty()) target += "&eip=" + url_encode(options.eip);
    Session session(globals);
    auto ports = session.get_json(target);
    if (!ports) return ports.error();
    if (session.json_output())
        print_json(*ports);
    else
        fmt::print("{}", format_ports(*ports));
    return kExitSuccess;
}

struct SessionsOptions {
    std::string eip;
    std::string source;
    std::string destination;
    unsigned limit = 1000;
};

int run_sessions(const GlobalOptions& globals, const SessionsOptions& options) {
    std::string target = fmt::format("/v1/sessions?limit={}", options.limit);
    if (!options.eip.empty()) target += "&eip=" + url_encode(options.eip);
    if (!options.source.empty()) target += "&source=" + url_encode(options.source);
    if (!options.destination.empty()) target += "&destination=" + url_encode(options.destination);
    Session session(globals);
    auto sessions = session.get_json(target);
    if (!sessions) return sessions.error();
    if (session.json_output())
        print_json(*sessions);
    else
        fmt::print("{}", format_sessions(*sessions));
    return kExitSuccess;
}

}  // namespace

std::string format_ports(const json& ports) {
    std::string out;
    TextTable eips({"EIP", "ADDRESS", "GATEWAY", "SESSIONS", "SNAT", "DNAT", "BUDGET", "IN FORCE",
                    "UTILIZATION"});
    TextTable destinations({"EIP", "DESTINATION", "PROTO", "SESSIONS", "UTILIZATION"});
    for (const auto& eip : ports.value("eips", json::array())) {
        eips.add_row(
            {text(eip.value("name", json())), text(eip.value("address", json())),
             text(eip.value("gateway", json())), text(eip.value("sessions", json())),
             text(eip.value("snat_sessions", json())), text(eip.value("dnat_sessions", json())),
             text(eip.value("port_budget", json())), text(eip.value("budget_in_force", json())),
             percent(eip.value("utilization", json()))});
        for (const auto& d : eip.value("top_destinations", json::array()))
            destinations.add_row({text(eip.value("name", json())), endpoint(d, "address", "port"),
                                  text(d.value("protocol", json())),
                                  text(d.value("sessions", json())),
                                  percent(d.value("utilization", json()))});
    }
    out += eips.empty() ? "no EIPs\n" : eips.render();
    if (!destinations.empty()) out += "\nnearest their budget:\n" + destinations.render();
    TextTable sources({"SOURCE", "SESSIONS"});
    for (const auto& s : ports.value("top_sources", json::array()))
        sources.add_row({text(s.value("address", json())), text(s.value("sessions", json()))});
    if (!sources.empty()) out += "\ntop sources:\n" + sources.render();
    TextTable entries({"KIND", "GATEWAY", "ENTRY", "SESSIONS"});
    for (const char* kind : {"snat", "dnat"})
        for (const auto& e : ports.value(std::string(kind) + "_entries", json::array()))
            entries.add_row({kind, text(e.value("gateway", json())), text(e.value("name", json())),
                             text(e.value("sessions", json()))});
    if (!entries.empty()) out += "\nper entry:\n" + entries.render();
    TextTable budget({"GATEWAY", "ENTRY", "REFUSED", "BY REASON", "STEERED"});
    const auto budget_counts = ports.value("budget", json());
    if (budget_counts.is_object())
        for (const auto& e : budget_counts.value("entries", json::array())) {
            std::vector<std::string> reasons;
            const auto by_reason = e.value("port_allocation_errors_by_reason", json::object());
            for (const auto& [reason, count] : by_reason.items())
                reasons.push_back(fmt::format("{} {}", reason, text(count)));
            budget.add_row({text(e.value("gateway", json())), text(e.value("entry", json())),
                            text(e.value("port_allocation_errors", json())),
                            reasons.empty() ? "-" : fmt::format("{}", fmt::join(reasons, ", ")),
                            text(e.value("steered", json()))});
        }
    if (!budget.empty())
        out += "\nport budget (refused: port allocation errors; steered: to another EIP):\n" +
               budget.render();
    out += format_eip_traffic(ports.value("eip_traffic", json::array()));
    TextTable others({"ADDRESS", "SESSIONS"});
    for (const auto& o : ports.value("other_addresses", json::array()))
        others.add_row({text(o.value("address", json())), text(o.value("sessions", json()))});
    if (!others.empty()) out += "\ntranslated to addresses that are no EIP:\n" + others.render();
    if (auto ct = ports.find("conntrack"); ct != ports.end())
        out += fmt::format("\nconntrack: {} NAT sessions, {}, {} events, {} ENOBUFS, {} dumps\n",
                           text(ct->value("sessions", json())),
                           ct->value("in_sync", false) ? "in sync" : "NOT in sync",
                           text(ct->value("events", json())), text(ct->value("enobufs", json())),
                           text(ct->value("resyncs", json())));
    return out;
}

std::string format_sessions(const json& sessions) {
    TextTable table({"PROTO", "TYPE", "EIP", "ORIGINAL", "TRANSLATED"});
    for (const auto& s : sessions.value("sessions", json::array())) {
        const auto original = s.value("original", json::object());
        const auto translated = s.value("translated", json::object());
        table.add_row(
            {text(s.value("protocol", json())), text(s.value("type", json())),
             text(s.value("eip", json())),
             endpoint(original, "src", "sport") + " -> " + endpoint(original, "dst", "dport"),
             endpoint(translated, "src", "sport") + " -> " + endpoint(translated, "dst", "dport")});
    }
    std::string out = table.empty() ? "no sessions\n" : table.render();
    if (sessions.value("truncated", false))
        out += fmt::format("({} sessions matched; raise --limit to see more)\n",
                           text(sessions.value("matched", json())));
    return out;
}

void add_ports_command(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    auto* command = app.add_subcommand(
        "ports", "SNAT port usage per EIP, the destinations nearest their budget, top sources");
    auto options = std::make_shared<PortsOptions>();
    command->add_option("--gateway", options->gateway, "Only the EIPs of this NAT gateway")
        ->type_name("GW");
    command->add_option("--eip", options->eip, "Only this EIP")->type_name("EIP");
    command->add_option("--top", options->top, "Rows of each top list")
        ->check(CLI::Range(0u, 10000u))
        ->type_name("N")
        ->capture_default_str();
    command->footer(
        "Utilization of an EIP: sessions of its busiest (destination address, port, protocol)\n"
        "divided by the gateway's port_budget_per_eip (SNAT ports are unique per destination).\n"
        "IN FORCE: the budget the data plane enforces on the EIP (- when no SNAT entry uses it).\n"
        "Port budget rows: connections refused (port allocation errors) and steered to another\n"
        "EIP, per gateway and SNAT entry (entry -: an EIP's backstop), since natctld started.\n"
        "EIP traffic: bytes and packets to (IN, before DNAT) and from (OUT, after SNAT) each EIP\n"
        "that passed its bandwidth_mbps cap, and packets the cap dropped, since natctld started.\n"
        "\n"
        "Examples:\n"
        "  natctl ports\n"
        "  natctl ports --gateway ngw-demo --top 10\n"
        "  natctl -o json ports --eip eip-1");
    command->callback(
        [&globals, options, &exit_code] { exit_code = run_ports(globals, *options); });
}

void add_sessions_command(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    auto* command =
        app.add_subcommand("sessions", "Live NAT sessions from conntrack: original and translated");
    auto options = std::make_shared<SessionsOptions>();
    command->add_option("--eip", options->eip, "Translated to (or arrived on) this EIP")
        ->type_name("EIP");
    command->add_option("--source", options->source, "Original source address")->type_name("IP");
    command->add_option("--destination", options->destination, "Original destination address")
        ->type_name("IP");
    command->add_option("--limit", options->limit, "At most this many sessions")
        ->check(CLI::Range(0u, 1000000u))
        ->type_name("N")
        ->capture_default_str();
    command->footer(
        "Examples:\n"
        "  natctl sessions --eip eip-1\n"
        "  natctl -o json sessions --source 10.0.2.10");
    command->callback(
        [&globals, options, &exit_code] { exit_code = run_sessions(globals, *options); });
}

}  // namespace natctl::cli
