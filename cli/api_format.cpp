#include "cli/api_format.hpp"

#include <charconv>
#include <ctime>
#include <initializer_list>
#include <utility>

#include <fmt/chrono.h>
#include <fmt/core.h>

#include "cli/model_view.hpp"
#include "cli/text_table.hpp"

namespace natctl::cli {

namespace {

using nlohmann::json;

std::string error_line(std::string_view path, std::string_view reason) {
    return fmt::format("{}: {}", path.empty() ? "(document)" : path, reason);
}

std::string object_line(char sign, const json& object) {
    std::string line(1, sign);
    if (!object.is_object()) return line + " " + cell_text(object);
    for (const char* key : {"kind", "name"})
        if (auto it = object.find(key); it != object.end()) line += " " + cell_text(*it);
    if (auto it = object.find("path"); it != object.end() && !cell_text(*it).empty())
        line += fmt::format(" ({})", cell_text(*it));
    return line;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string readable_key(std::string key) {
    for (char& c : key)
        if (c == '_' || c == '.') c = ' ';
    return key;
}

std::string readable_value(const json& value) {
    if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
    return cell_text(value);
}

// A reference ({"nat_gateway": N}, {"kind", "name"}, {"name", "address"}) stays one value: "gateway
// nat_gateway ngw-1" reads better than two lines for its halves.
bool is_reference(const json& value) {
    if (value.is_object() && value.size() == 1) return value.begin()->is_string();
    return value.is_object() && value.size() == 2 && value.contains("name") &&
           (value.contains("kind") || value.contains("address"));
}

void flatten(const json& value, const std::string& key, Pairs& out) {
    if (value.is_object() && !value.empty() && !is_reference(value)) {
        for (const auto& [member, item] : value.items())
            flatten(item, key.empty() ? member : key + "." + member, out);
        return;
    }
    out.emplace_back(readable_key(key), readable_value(value));
}

// The fields named in `order` first, in that order, then every other field: a newer daemon
// may report more than this client knows about, and it should still be shown.
Pairs ordered_pairs(const json& document, std::initializer_list<std::string_view> order,
                    std::initializer_list<std::string_view> skip = {}) {
    Pairs pairs;
    if (!document.is_object()) {
        pairs.emplace_back("value", readable_value(document));
        return pairs;
    }
    for (const auto key : order)
        if (auto it = document.find(key); it != document.end())
            flatten(*it, std::string(key), pairs);
    for (const auto& [key, value] : document.items()) {
        const auto listed = [&](std::initializer_list<std::string_view> keys) {
            for (const auto candidate : keys)
                if (candidate == key) return true;
            return false;
        };
        if (!listed(order) && !listed(skip)) flatten(value, key, pairs);
    }
    return pairs;
}

std::string time_text(const json& value) {
    if (!value.is_number_integer()) return cell_text(value);
    const auto seconds = static_cast<std::time_t>(value.get<std::int64_t>());
    std::tm utc{};
    if (!gmtime_r(&seconds, &utc)) return cell_text(value);
    return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC", utc);
}

}  // namespace

// One row per NAT gateway, entry and IPv4 gateway of GET /v1/status's "objects".
std::string format_object_status(const json& objects) {
    TextTable table({"KIND", "NAME", "STATUS", "ROUTES", "REASON"});
    auto row = [&](const std::string& kind, const std::string& name, const json& object) {
        std::string routes;
        for (const auto& route : object.value("routes", json::array()))
            routes += (routes.empty() ? "" : ", ") + cell_text(route);
        table.add_row({kind, name, cell_text(object.value("status", json())), routes,
                       cell_text(object.value("reason", json()))});
    };
    for (const auto& gateway : objects.value("nat_gateways", json::array())) {
        if (!gateway.is_object()) continue;
        const auto name = cell_text(gateway.value("name", json()));
        row("nat_gateway", name, gateway);
        for (const char* kind : {"snat_entries", "dnat_entries"})
            for (const auto& entry : gateway.value(kind, json::array()))
                if (entry.is_object())
                    row(kind[0] == 's' ? "snat_entry" : "dnat_entry",
                        name + "/" + cell_text(entry.value("name", json())), entry);
    }
    for (const auto& gateway : objects.value("ipv4_gateways", json::array()))
        if (gateway.is_object())
            row("ipv4_gateway", cell_text(gateway.value("name", json())), gateway);
    return table.render();
}

std::string format_eip_traffic(const json& rows) {
    TextTable traffic({"EIP", "CAP MBIT/S", "IN BYTES", "IN PACKETS", "IN CAPPED", "OUT BYTES",
                       "OUT PACKETS", "OUT CAPPED"});
    if (rows.is_array())
        for (const auto& row : rows) {
            if (!row.is_object()) continue;
            const auto in = row.value("inbound", json::object());
            const auto out = row.value("outbound", json::object());
            auto cell = [](const json& value) {
                return value.is_null() ? std::string("-") : cell_text(value);
            };
            traffic.add_row(
                {cell(row.value("eip", json())), cell(row.value("bandwidth_mbps", json())),
                 cell(in.value("bytes", json())), cell(in.value("packets", json())),
                 cell(in.value("capped_packets", json())), cell(out.value("bytes", json())),
                 cell(out.value("packets", json())), cell(out.value("capped_packets", json()))});
        }
    if (traffic.empty()) return {};
    return "\nEIP traffic (passed the cap; capped: packets dropped over bandwidth_mbps):\n" +
           traffic.render();
}

std::string format_status(const json& status) {
    // The host's warnings are sentences: one line each, after the figures; the per-object
    // status is a table at the end.
    json figures = status;
    json warnings = json::array();
    if (figures.is_object())
        if (auto host = figures.find("host"); host != figures.end() && host->is_object())
            if (auto found = host->find("warnings"); found != host->end()) {
                warnings = *found;
                host->erase(found);
            }
    std::string out = render_pairs(ordered_pairs(
        figures, {"revision", "reconcile", "kernel_features", "drift_repairs", "host"},
        {"objects", "eip_traffic"}));
    if (warnings.is_array() && !warnings.empty()) {
        out += "host warnings:\n";
        for (const auto& warning : warnings)
            out += fmt::format("  - {}\n", cell_text(warning));
    }
    if (status.is_object())
        if (auto objects = status.find("objects"); objects != status.end() && objects->is_object())
            out += "\n" + format_object_status(*objects);
    if (status.is_object())
        if (auto traffic = status.find("eip_traffic"); traffic != status.end())
            out += format_eip_traffic(*traffic);
    return out;
}

std::string format_explain(const json& explanation) {
    std::string out = render_pairs(ordered_pairs(
        explanation, {"direction", "route_table", "route", "gateway", "translation"}, {"steps"}));
    if (explanation.is_object())
        if (auto steps = explanation.find("steps");
            steps != explanation.end() && steps->is_array()) {
            out += "steps:\n";
            std::size_t number = 1;
            for (const auto& step : *steps)
                out += fmt::format("  {}. {}\n", number++, cell_text(step));
        }
    return out;
}

std::string format_revisions(const json& revisions) {
    TextTable table({"REVISION", "TIME", "AUTHOR", "SUMMARY"});
    const json list =
        revisions.is_object() ? revisions.value("revisions", json::array()) : json::array();
    if (!list.is_array()) return table.render();
    for (std::size_t index = 0; index < list.size(); ++index) {
        const json& entry = list[index];
        if (!entry.is_object()) continue;
        // The API lists oldest first, the current revision last.
        const std::string revision = cell_text(entry.value("revision", json()));
        table.add_row({index + 1 == list.size() ? revision + " (current)" : revision,
                       time_text(entry.value("time", json())),
                       cell_text(entry.value("author", json())),
                       cell_text(entry.value("summary", json()))});
    }
    return table.render();
}

std::vector<std::string> error_lines(const model::Errors& errors) {
    std::vector<std::string> lines;
    for (const auto& error : errors)
        lines.push_back(error_line(error.path, error.reason));
    return lines;
}

std::vector<std::string> answer_error_lines(unsigned status, std::string_view body) {
    std::vector<std::string> lines;
    const json document = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (document.is_object())
        if (auto errors = document.find("errors"); errors != document.end() && errors->is_array())
            for (const auto& error : *errors) {
                if (!error.is_object()) continue;
                lines.push_back(error_line(cell_text(error.value("path", json())),
                                           cell_text(error.value("reason", json()))));
            }
    if (lines.empty()) {
        std::string text(body.substr(0, 200));
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
            text.pop_back();
        lines.push_back(text.empty() ? fmt::format("natctld answered HTTP {}", status)
                                     : fmt::format("natctld answered HTTP {}: {}", status, text));
    }
    return lines;
}

std::string format_write_result(const json& answer, bool dry_run) {
    const std::string revision =
        answer.is_object() && answer.contains("revision") ? cell_text(answer["revision"]) : "?";
    const bool changed = answer.is_object() && answer.value("changed", false);
    if (!changed) return fmt::format("no changes (revision {})\n", revision);

    std::string out;
    const json plan = answer.value("plan", json::object());
    for (const auto& [key, sign] : {std::pair{"added", '+'}, {"changed", '~'}, {"removed", '-'}}) {
        auto it = plan.is_object() ? plan.find(key) : plan.end();
        if (it == plan.end() || !it->is_array()) continue;
        for (const auto& object : *it)
            out += object_line(sign, object) + "\n";
    }
    // Side effects the daemon wants known, e.g. what a forced delete took with it.
    if (auto notes = plan.is_object() ? plan.find("notes") : plan.end();
        notes != plan.end() && notes->is_array())
        for (const auto& note : *notes)
            out += fmt::format("note: {}\n", cell_text(note));
    if (dry_run)
        out += fmt::format("dry run: nothing was applied (current revision {})\n", revision);
    else
        out += fmt::format("revision {}\n", revision);
    return out;
}

std::optional<std::uint64_t> revision_of_etag(std::string_view etag) {
    if (etag.starts_with("W/")) etag.remove_prefix(2);
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
        etag = etag.substr(1, etag.size() - 2);
    std::uint64_t revision = 0;
    const auto [end, error] = std::from_chars(etag.data(), etag.data() + etag.size(), revision);
    if (error != std::errc() || end != etag.data() + etag.size() || etag.empty())
        return std::nullopt;
    return revision;
}

std::string stale_revision_message(std::string_view if_match) {
    const auto revision = revision_of_etag(if_match);
    return fmt::format(
        "natctl: the configuration changed while this command ran (it was read at revision {}); "
        "nothing was applied. Read it again and retry.",
        revision ? std::to_string(*revision) : std::string(if_match));
}

std::string url_encode(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        const bool unreserved = (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
                                (byte >= '0' && byte <= '9') || c == '-' || c == '_' || c == '.' ||
                                c == '~';
        // ':' stays readable in explain's "IP:PORT"; it is legal in a query value.
        if (unreserved || c == ':')
            out += c;
        else
            out += fmt::format("%{:02X}", static_cast<unsigned>(byte));
    }
    return out;
}

}  // namespace natctl::cli
