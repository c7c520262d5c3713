#include "controller/conntrack/accounting.hpp"

namespace natctl::conntrack {
namespace {

// Adds delta to a counter and erases it at zero, so that maps hold live keys only.
template <class Map, class K>
void bump(Map& map, const K& key, int delta) {
    auto [it, inserted] = map.try_emplace(key, 0);
    if (delta > 0) {
        ++it->second;
    } else if (it->second <= 1) {
        map.erase(it);
    } else {
        --it->second;
    }
}

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

}  // namespace

std::size_t Accounting::KeyHash::operator()(const Key& k) const {
    std::uint64_t h = k.zone;
    h = mix(h, k.protocol);
    h = mix(h, (std::uint64_t(k.original.src) << 32) | k.original.dst);
    h = mix(h, (std::uint64_t(k.original.sport) << 16) | k.original.dport);
    h = mix(h, k.icmp);
    // hash_combine alone leaves the low bits of near-identical tuples (one source, ports
    // counting up) clustered: long bucket chains showed up in profiles at 200k entries.
    // Murmur3's finaliser spreads every input bit over the result.
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return static_cast<std::size_t>(h);
}

Accounting::Key Accounting::key_of(const netlink::ConntrackEntry& entry) {
    Key key{entry.zone, entry.protocol, entry.original, 0};
    if (entry.icmp)
        key.icmp = (std::uint32_t(entry.icmp->type) << 24) |
                   (std::uint32_t(entry.icmp->code) << 16) | entry.icmp->id;
    return key;
}

void Accounting::count(const netlink::ConntrackEntry& entry, int delta) {
    if (entry.src_nat()) {
        auto& counts = public_[entry.reply.dst];
        counts.snat = delta > 0 ? counts.snat + 1 : counts.snat - 1;
        bump(counts.destinations, Destination{entry.reply.src, entry.reply.sport, entry.protocol},
             delta);
        bump(counts.sources, entry.original.src, delta);
        bump(private_, entry.original.src, delta);
    }
    if (entry.dst_nat()) {
        auto& counts = public_[entry.original.dst];
        counts.dnat = delta > 0 ? counts.dnat + 1 : counts.dnat - 1;
        bump(counts.public_ports, PublicPort{entry.protocol, entry.original.dport}, delta);
        bump(private_, entry.reply.src, delta);
    }
    if (delta > 0) return;
    // Drop public addresses without sessions, so that removed EIPs do not linger.
    for (auto address : {entry.reply.dst, entry.original.dst}) {
        auto it = public_.find(address);
        if (it != public_.end() && it->second.snat == 0 && it->second.dnat == 0) public_.erase(it);
    }
}

void Accounting::reset(const std::vector<netlink::ConntrackEntry>& entries) {
    entries_.clear();
    public_.clear();
    private_.clear();
    entries_.reserve(entries.size());
    for (const auto& entry : entries)
        add(entry);
}

void Accounting::add(const netlink::ConntrackEntry& entry) {
    if (!entry.src_nat() && !entry.dst_nat()) return;
    auto [it, inserted] = entries_.try_emplace(key_of(entry), entry);
    if (!inserted) {
        if (it->second.reply == entry.reply && it->second.status == entry.status) return;
        count(it->second, -1);  // the same connection with another translation: replace it
        it->second = entry;
    }
    count(entry, +1);
}

void Accounting::remove(const netlink::ConntrackEntry& entry) {
    auto it = entries_.find(key_of(entry));
    if (it == entries_.end()) return;
    count(it->second, -1);
    entries_.erase(it);
}

}  // namespace natctl::conntrack
