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

std::size_t Accounting::find_slot(const Key& key, std::uint64_t hash) const {
    const std::size_t mask = slots_.size() - 1;
    const auto tag = static_cast<std::uint32_t>(hash >> 32);
    for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask) {
        const Slot& probe = slots_[slot];
        if (probe.position == 0) return slot;
        if (probe.tag == tag && key_of(entries_[probe.position - 1]) == key) return slot;
    }
}

void Accounting::rebuild_index(std::size_t entries) {
    std::size_t size = 16;
    while (size < 2 * entries)
        size *= 2;
    slots_.assign(size, Slot{});
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        const Key key = key_of(entries_[i]);
        const std::uint64_t hash = KeyHash{}(key);
        slots_[find_slot(key, hash)] = {static_cast<std::uint32_t>(hash >> 32),
                                        static_cast<std::uint32_t>(i + 1)};
    }
}

void Accounting::reserve(std::size_t sessions) {
    entries_.reserve(sessions);
    if (2 * sessions > slots_.size()) rebuild_index(sessions);
}

void Accounting::erase_slot(std::size_t slot) {
    // The last entry moves into the freed place; its slot follows it.
    const std::size_t freed = slots_[slot].position - 1;
    if (freed != entries_.size() - 1) {
        const Key moved = key_of(entries_.back());
        slots_[find_slot(moved, KeyHash{}(moved))].position = static_cast<std::uint32_t>(freed + 1);
        entries_[freed] = entries_.back();
    }
    entries_.pop_back();
    // Backward shift: pull later entries of the probe run into the hole when the hole lies
    // between their home slot and where they are, so that no tombstones are needed.
    const std::size_t mask = slots_.size() - 1;
    std::size_t hole = slot;
    for (std::size_t next = (hole + 1) & mask; slots_[next].position != 0;
         next = (next + 1) & mask) {
        const std::uint64_t hash = KeyHash{}(key_of(entries_[slots_[next].position - 1]));
        const std::size_t home = hash & mask;
        if (((next - home) & mask) >= ((next - hole) & mask)) {
            slots_[hole] = slots_[next];
            hole = next;
        }
    }
    slots_[hole] = Slot{};
}

void Accounting::reset(const std::vector<netlink::ConntrackEntry>& entries) {
    entries_.clear();
    slots_.clear();
    public_.clear();
    private_.clear();
    reserve(entries.size());
    for (const auto& entry : entries)
        add(entry);
}

void Accounting::add(const netlink::ConntrackEntry& entry) {
    if (!entry.src_nat() && !entry.dst_nat()) return;
    if (2 * (entries_.size() + 1) > slots_.size()) rebuild_index(entries_.size() + 1);
    const Key key = key_of(entry);
    const std::uint64_t hash = KeyHash{}(key);
    Slot& slot = slots_[find_slot(key, hash)];
    if (slot.position != 0) {
        auto& known = entries_[slot.position - 1];
        if (known.reply == entry.reply && known.status == entry.status) return;
        count(known, -1);  // the same connection with another translation: replace it
        known = entry;
    } else {
        entries_.push_back(entry);
        slot = {static_cast<std::uint32_t>(hash >> 32),
                static_cast<std::uint32_t>(entries_.size())};
    }
    count(entry, +1);
}

void Accounting::remove(const netlink::ConntrackEntry& entry) {
    if (slots_.empty()) return;
    const Key key = key_of(entry);
    const std::size_t slot = find_slot(key, KeyHash{}(key));
    if (slots_[slot].position == 0) return;
    count(entries_[slots_[slot].position - 1], -1);
    erase_slot(slot);
}

}  // namespace natctl::conntrack
