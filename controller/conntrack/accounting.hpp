// Conntrack accounting: live NAT'd conntrack entries counted per public address (EIP), per
// (EIP, destination address, destination port, protocol) — the tuple space SNAT source
// ports are allocated in, which runs out first — per private address and, for DNAT, per
// (EIP, protocol, public port). Pure: entries in, counts out; no I/O, no model.
//
// An entry is identified by its zone, protocol and original tuple (unique in the kernel's
// table), so add() is idempotent (an entry seen in a dump and again in a NEW event counts
// once; a changed translation replaces the old one) and remove() of an unknown entry does
// nothing. That is what makes "dump, then events" converge.
//
// Roles of an entry (the reply tuple shows the translation):
// - SNAT (status SRC_NAT): public address and port = the reply destination; private source
//   = the original source; destination = the reply source and source port (after any DNAT:
//   the tuple the kernel keeps SNAT ports unique in).
// - DNAT (status DST_NAT): public address and port = the original destination; private
//   address = the reply source (the backend).
// An entry with both (hairpin) counts in both roles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "netlink/conntrack_backend.hpp"

namespace natctl::conntrack {

// (EIP, destination address, destination port, protocol) of SNAT'd sessions.
struct Destination {
    std::uint32_t address = 0;
    std::uint16_t port = 0;
    std::uint8_t protocol = 0;
    bool operator==(const Destination&) const = default;
};

struct PublicPort {
    std::uint8_t protocol = 0;
    std::uint16_t port = 0;
    bool operator==(const PublicPort&) const = default;
};

struct DestinationHash {
    std::size_t operator()(const Destination& d) const {
        return std::hash<std::uint64_t>{}((std::uint64_t(d.address) << 32) |
                                          (std::uint64_t(d.port) << 8) | d.protocol);
    }
};
struct PublicPortHash {
    std::size_t operator()(const PublicPort& p) const {
        return std::hash<std::uint32_t>{}((std::uint32_t(p.protocol) << 16) | p.port);
    }
};

// Per public address.
struct PublicCounts {
    std::uint64_t snat = 0;  // SNAT'd sessions translated to it
    std::uint64_t dnat = 0;  // DNAT'd sessions that arrived on it
    std::unordered_map<Destination, std::uint32_t, DestinationHash> destinations;  // SNAT
    std::unordered_map<std::uint32_t, std::uint32_t> sources;  // SNAT: private source → n
    std::unordered_map<PublicPort, std::uint32_t, PublicPortHash> public_ports;  // DNAT
    bool operator==(const PublicCounts&) const = default;
};

class Accounting {
  public:
    // Replaces everything with the entries of a dump.
    void reset(const std::vector<netlink::ConntrackEntry>& entries);
    // Room for `sessions` entries without growing (a dump streamed in through add()).
    void reserve(std::size_t sessions);
    // Idempotent; an entry without SRC_NAT or DST_NAT is ignored.
    void add(const netlink::ConntrackEntry& entry);
    // Nothing happens when the entry is not known.
    void remove(const netlink::ConntrackEntry& entry);

    std::size_t sessions() const { return entries_.size(); }
    const std::unordered_map<std::uint32_t, PublicCounts>& by_public() const { return public_; }
    // Private addresses: SNAT'd sources and DNAT backends.
    const std::unordered_map<std::uint32_t, std::uint64_t>& by_private() const { return private_; }
    // Every tracked entry, in no particular order.
    template <class F>
    void for_each(F&& visit) const {
        for (const auto& entry : entries_)
            visit(entry);
    }

  private:
    struct Key {
        std::uint16_t zone = 0;
        std::uint8_t protocol = 0;
        netlink::ConntrackTuple original;
        std::uint32_t icmp = 0;  // type, code, id
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        std::size_t operator()(const Key& k) const;
    };
    static Key key_of(const netlink::ConntrackEntry& entry);
    void count(const netlink::ConntrackEntry& entry, int delta);

    // The tracked entries are stored densely with an open-addressing index over them
    // (linear probing, backward-shift deletion) rather than in a std::unordered_map keyed
    // by Key: counting a 200k-entry dump into the map took two or three cache misses and a
    // node allocation per entry, the largest part of the accounting's own time.
    struct Slot {
        std::uint32_t tag = 0;       // the upper half of the key's hash: most probes stop here
        std::uint32_t position = 0;  // in entries_, plus one; 0: an empty slot
    };
    // The slot holding `key`, or the empty slot where it would go.
    std::size_t find_slot(const Key& key, std::uint64_t hash) const;
    // Rebuilds the index for at least `entries` entries at most half full.
    void rebuild_index(std::size_t entries);
    void erase_slot(std::size_t slot);

    std::vector<netlink::ConntrackEntry> entries_;
    std::vector<Slot> slots_;  // a power of two in size, or empty
    std::unordered_map<std::uint32_t, PublicCounts> public_;
    std::unordered_map<std::uint32_t, std::uint64_t> private_;
};

}  // namespace natctl::conntrack
