#include "controller/conntrack/views.hpp"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "controller/conntrack/naming.hpp"

namespace natctl::conntrack {
namespace {

using nlohmann::json;

double ratio(std::uint64_t part, std::uint64_t whole) {
    return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

// The N largest (key, count) pairs, largest first, ties by key.
template <class Map>
std::vector<std::pair<typename Map::key_type, std::uint64_t>> top_n(const Map& map, std::size_t n) {
    using Key = typename Map::key_type;
    std::vector<std::pair<Key, std::uint64_t>> rows;
    rows.reserve(map.size());
    for (const auto& [key, value] : map)
        rows.emplace_back(key, value);
    auto better = [](const auto& a, const auto& b) {
        if (a.second != b.second) return a.second > b.second;
        if constexpr (std::is_same_v<Key, Destination>)
            return std::tie(a.first.address, a.first.port, a.first.protocol) <
                   std::tie(b.first.address, b.first.port, b.first.protocol);
        else
            return a.first < b.first;
    };
    const std::size_t keep = std::min(n, rows.size());
    std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(keep), rows.end(),
                      better);
    rows.resize(keep);
    return rows;
}

json stats_json(const Accounting& accounting, const TrackerStats& s) {
    return json{{"sessions", accounting.sessions()},
                {"in_sync", s.in_sync},
                {"events", s.events},
                {"enobufs", s.overflows},
                {"resyncs", s.resyncs},
                {"resync_failures", s.resync_failures},
                {"last_dump_entries", s.last_dump_entries},
                {"last_dump_ms", s.last_dump_duration.count()}};
}

// The port_budget_per_eip the data plane enforces on `eip`: that of the first gateway (not a
// masquerade one) with a SNAT entry that uses it, as the compiler picks it
// (docs/KERNEL-LAYOUT.md, "Port budgets"); null when no SNAT entry uses it.
json budget_in_force(const model::Model& model, const std::string& eip) {
    for (const auto& gateway : model.nat_gateways) {
        if (gateway.effective_mode() == model::GatewayMode::Masquerade) continue;
        for (const auto& entry : gateway.snat_entries)
            if (std::find(entry.eips.begin(), entry.eips.end(), eip) != entry.eips.end())
                return gateway.port_budget();
    }
    return nullptr;
}

json ports_view(const model::Model& model, const DnatEntryNames& dnat_names,
                const Accounting& accounting, const TrackerStats& stats, const PortsQuery& query) {
    const auto& counts = accounting.by_public();
    const auto eips = eips_by_address(model);
    const PublicCounts none;

    json eip_rows = json::array();
    std::map<std::pair<std::string, std::string>, std::uint64_t> snat_entries, dnat_entries;
    std::unordered_map<std::uint32_t, std::uint64_t> sources;  // over the selected EIPs
    const bool filtered = query.gateway || query.eip;
    for (const auto& [address, info] : eips) {
        if (query.eip && info.eip->name != *query.eip) continue;
        if (query.gateway && (!info.gateway || info.gateway->name != *query.gateway)) continue;
        auto found = counts.find(address);
        const PublicCounts& c = found == counts.end() ? none : found->second;
        const std::uint32_t budget = info.budget();
        json destinations = json::array();
        std::uint64_t worst = 0;
        for (const auto& [destination, n] :
             top_n(c.destinations, std::max<std::size_t>(query.top, 1))) {
            worst = std::max(worst, n);
            if (destinations.size() >= query.top) break;
            destinations.push_back(json{{"address", address_text(destination.address)},
                                        {"port", destination.port},
                                        {"protocol", protocol_json(destination.protocol)},
                                        {"sessions", n},
                                        {"utilization", ratio(n, budget)}});
        }
        json top_sources = json::array();
        for (const auto& [source, n] : top_n(c.sources, query.top))
            top_sources.push_back(json{{"address", address_text(source)}, {"sessions", n}});
        eip_rows.push_back(json{{"name", info.eip->name},
                                {"address", address_text(address)},
                                {"gateway", info.gateway ? json(info.gateway->name) : json()},
                                {"port_budget", budget},
                                {"budget_in_force", budget_in_force(model, info.eip->name)},
                                {"sessions", c.snat + c.dnat},
                                {"snat_sessions", c.snat},
                                {"dnat_sessions", c.dnat},
                                {"destinations", c.destinations.size()},
                                {"utilization", ratio(worst, budget)},
                                {"top_destinations", std::move(destinations)},
                                {"top_sources", std::move(top_sources)}});
        if (!info.gateway) continue;
        for (const auto& [source, n] : c.sources) {
            if (filtered) sources[source] += n;
            const auto* entry = snat_entry_for(model, *info.gateway, info.eip->name, source);
            snat_entries[{info.gateway->name, entry ? entry->name : ""}] += n;
        }
        const auto gateway = static_cast<std::size_t>(info.gateway - model.nat_gateways.data());
        for (const auto& [port, n] : c.public_ports)
            dnat_entries[{info.gateway->name,
                          std::string(dnat_names.find(gateway, address, port))}] += n;
    }

    auto entry_rows = [](const auto& map) {
        json rows = json::array();
        for (const auto& [key, n] : map)
            rows.push_back(json{{"gateway", key.first},
                                {"name", key.second.empty() ? json() : json(key.second)},
                                {"sessions", n}});
        return rows;
    };
    json top_sources = json::array();
    for (const auto& [source, n] :
         filtered ? top_n(sources, query.top) : top_n(accounting.by_private(), query.top))
        top_sources.push_back(json{{"address", address_text(source)}, {"sessions", n}});
    // Translations to addresses that are no EIP of the model (masquerade, instance public
    // IPs, leftovers of removed EIPs).
    json others = json::array();
    if (!filtered) {
        std::vector<std::pair<std::uint32_t, std::uint64_t>> rows;
        for (const auto& [address, c] : counts)
            if (!eips.contains(address)) rows.emplace_back(address, c.snat + c.dnat);
        std::sort(rows.begin(), rows.end());
        for (const auto& [address, n] : rows)
            others.push_back(json{{"address", address_text(address)}, {"sessions", n}});
    }
    return json{{"eips", std::move(eip_rows)},
                {"top_sources", std::move(top_sources)},
                {"snat_entries", entry_rows(snat_entries)},
                {"dnat_entries", entry_rows(dnat_entries)},
                {"other_addresses", std::move(others)},
                {"conntrack", stats_json(accounting, stats)}};
}

json sessions_view(const model::Model& model, const Accounting& accounting,
                   const TrackerStats& stats, const SessionsQuery& query) {
    const auto eips = eips_by_address(model);
    std::optional<std::uint32_t> eip_address;
    if (query.eip) {
        eip_address = 0;  // an unknown EIP matches nothing
        for (const auto& [address, info] : eips)
            if (info.eip->name == *query.eip) eip_address = address;
    }
    auto eip_name = [&](std::uint32_t address) -> json {
        auto it = eips.find(address);
        return it == eips.end() ? json() : json(it->second.eip->name);
    };
    std::vector<netlink::ConntrackEntry> matched;
    accounting.for_each([&](const netlink::ConntrackEntry& e) {
        if (query.source && e.original.src != *query.source) return;
        if (query.destination && e.original.dst != *query.destination) return;
        if (eip_address && !((e.src_nat() && e.reply.dst == *eip_address) ||
                             (e.dst_nat() && e.original.dst == *eip_address)))
            return;
        matched.push_back(e);
    });
    std::sort(matched.begin(), matched.end(), [](const auto& a, const auto& b) {
        return std::tie(a.original, a.protocol, a.zone) < std::tie(b.original, b.protocol, b.zone);
    });
    json rows = json::array();
    for (std::size_t i = 0; i < matched.size() && i < query.limit; ++i) {
        const auto& e = matched[i];
        const char* type = e.src_nat() && e.dst_nat() ? "snat+dnat" : e.src_nat() ? "snat" : "dnat";
        json row{
            {"protocol", protocol_json(e.protocol)},
            {"type", type},
            {"eip", e.src_nat() ? eip_name(e.reply.dst) : eip_name(e.original.dst)},
            {"original",
             tuple_json(e.original.src, e.original.sport, e.original.dst, e.original.dport)},
            // as the packets leave the gateway: the reply tuple turned around
            {"translated", tuple_json(e.reply.dst, e.reply.dport, e.reply.src, e.reply.sport)}};
        if (e.icmp) row["icmp_id"] = e.icmp->id;
        if (e.zone) row["zone"] = e.zone;
        rows.push_back(std::move(row));
    }
    return json{{"sessions", std::move(rows)},
                {"matched", matched.size()},
                {"truncated", matched.size() > query.limit},
                {"conntrack", stats_json(accounting, stats)}};
}

}  // namespace

json ports_view(const model::Model& model, const Tracker& tracker, const PortsQuery& query) {
    // Built before taking the tracker's lock: O(DNAT entries), and the tracker's writer
    // would wait for it.
    const DnatEntryNames dnat_names(model);
    return tracker.read([&](const Accounting& accounting, const TrackerStats& stats) {
        return ports_view(model, dnat_names, accounting, stats, query);
    });
}

json sessions_view(const model::Model& model, const Tracker& tracker, const SessionsQuery& query) {
    return tracker.read([&](const Accounting& accounting, const TrackerStats& stats) {
        return sessions_view(model, accounting, stats, query);
    });
}

}  // namespace natctl::conntrack
