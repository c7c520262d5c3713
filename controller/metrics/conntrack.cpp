#include "controller/metrics/conntrack.hpp"

#include <string>

#include "controller/conntrack/session_log.hpp"
#include "controller/conntrack/views.hpp"

namespace natctl::metrics {
namespace {

using nlohmann::json;

std::string text(const json& value) {
    return value.is_string() ? value.get<std::string>() : std::string();
}

double number(const json& value) {
    return value.is_number() ? value.get<double>() : 0.0;
}

void tracker_series(Exposition& out, const json& stats) {
    out.gauge("natctl_conntrack_in_sync",
              "1 when the NAT session accounting matches the conntrack table (after a "
              "successful dump, until events are lost).",
              {}, stats.value("in_sync", false) ? 1 : 0);
    out.gauge("natctl_conntrack_nat_sessions",
              "NAT'd conntrack entries (SNAT, DNAT or both) the accounting tracks.", {},
              number(stats["sessions"]));
    out.counter("natctl_conntrack_events_total",
                "Conntrack NEW and DESTROY events of NAT'd entries read and applied.", {},
                number(stats["events"]));
    out.counter("natctl_conntrack_enobufs_total",
                "Times conntrack events were lost (ENOBUFS on the event socket); each one "
                "triggers a re-dump.",
                {}, number(stats["enobufs"]));
    out.counter("natctl_conntrack_resyncs_total",
                "Full conntrack dumps applied to the accounting (the first one included).", {},
                number(stats["resyncs"]));
    out.counter("natctl_conntrack_resync_failures_total", "Conntrack dumps that failed.", {},
                number(stats["resync_failures"]));
    out.gauge("natctl_conntrack_last_dump_seconds",
              "Time the last full conntrack dump took (read and counted).", {},
              number(stats["last_dump_ms"]) / 1000.0);
}

void eip_series(Exposition& out, const json& eips) {
    for (const auto& row : eips) {
        const std::string eip = text(row["name"]);
        const std::string gateway = text(row["gateway"]);
        for (const char* type : {"snat", "dnat"})
            out.gauge("natctl_eip_sessions",
                      "Live NAT sessions per EIP: translated to it (snat) or arrived on it "
                      "(dnat).",
                      {{"eip", eip}, {"gateway", gateway}, {"type", type}},
                      number(row[std::string(type) + "_sessions"]));
        out.gauge("natctl_eip_port_utilization",
                  "SNAT sessions of the EIP's busiest (destination address, port, protocol) "
                  "over the gateway's port budget per EIP; 1 means that destination has no "
                  "port left.",
                  {{"eip", eip}, {"gateway", gateway}}, number(row["utilization"]));
        out.gauge("natctl_eip_port_budget",
                  "Source ports per EIP and destination tuple the gateway may use.",
                  {{"eip", eip}, {"gateway", gateway}}, number(row["port_budget"]));
    }
}

void entry_series(Exposition& out, const json& rows, const char* kind) {
    for (const auto& row : rows)
        out.gauge("natctl_entry_sessions",
                  "Live NAT sessions per SNAT or DNAT entry (entry \"\": translated by the "
                  "gateway's EIPs outside any entry).",
                  {{"gateway", text(row["gateway"])}, {"kind", kind}, {"entry", text(row["name"])}},
                  number(row["sessions"]));
}

void session_series(Exposition& out, const conntrack::SessionRecorder::Figures& figures) {
    for (const auto& [eip, n] : figures.new_by_eip)
        out.counter("natctl_eip_new_sessions_total",
                    "NAT sessions started (conntrack NEW events) per EIP since natctld started.",
                    {{"eip", eip}}, static_cast<double>(n));
    for (const auto& [key, n] : figures.new_by_entry) {
        const auto& [gateway, kind, entry] = key;
        out.counter("natctl_entry_new_sessions_total",
                    "NAT sessions started (conntrack NEW events) per SNAT or DNAT entry since "
                    "natctld started.",
                    {{"gateway", gateway}, {"kind", kind}, {"entry", entry}},
                    static_cast<double>(n));
    }
    for (const auto& [key, n] : figures.refused)
        out.counter("natctl_refused_connections_total",
                    "Connections a NAT gateway refused for lack of ports, as its refusal rules "
                    "logged them (NFLOG group 20052).",
                    {{"gateway", key.first}, {"reason", key.second}}, static_cast<double>(n));
    out.counter("natctl_refusals_unattributed_total",
                "NFLOG packets on natctl's group whose prefix names no gateway of the model.", {},
                static_cast<double>(figures.refusals_unattributed));
    out.counter("natctl_nflog_enobufs_total",
                "Times refusal log packets were lost (ENOBUFS on the NFLOG socket).", {},
                static_cast<double>(figures.nflog_overflows));
    out.counter("natctl_session_log_lines_total",
                "Session log lines (start, end, refused, lost), by whether the sink took them.",
                {{"result", "written"}}, static_cast<double>(figures.lines_written));
    out.counter("natctl_session_log_lines_total",
                "Session log lines (start, end, refused, lost), by whether the sink took them.",
                {{"result", "dropped"}}, static_cast<double>(figures.lines_dropped));
}

}  // namespace

void add_conntrack_metrics(Registry& registry, ConntrackMetricsSources sources) {
    if (!sources.tracker) return;
    registry.add_collector([sources = std::move(sources)](Exposition& out) {
        // top 0: only the counts and the busiest destination, no lists.
        const auto view = conntrack::ports_view(sources.model(), *sources.tracker,
                                                conntrack::PortsQuery{{}, {}, 0});
        tracker_series(out, view["conntrack"]);
        eip_series(out, view["eips"]);
        entry_series(out, view["snat_entries"], "snat");
        entry_series(out, view["dnat_entries"], "dnat");
        if (sources.sessions) session_series(out, sources.sessions->figures());
    });
}

}  // namespace natctl::metrics
