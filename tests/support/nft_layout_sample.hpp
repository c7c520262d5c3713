// docs/reference/layout-sample.nft as a kernel::Table, with the expressions nft generates
// for it (docs/reference/layout-sample.netlink-debug). Shared by the unit tests (encoding
// round trips) and the kernel tests (apply, then compare `nft list` with
// docs/reference/layout-sample.list).
#pragma once

#include <netinet/in.h>
// clang-format off: the kernel headers need netinet/in.h first
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
// clang-format on

#include <cstdint>
#include <string>
#include <vector>

#include "kernelstate/kernel_state.hpp"

namespace natctl::testing {

namespace sample {

using namespace natctl::kernel;

inline constexpr std::uint32_t ip(std::uint32_t a, std::uint32_t b, std::uint32_t c,
                                  std::uint32_t d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}
// Register bytes as nft puts them there: host-order 32-bit values, network-order addresses.
inline std::vector<std::uint8_t> host32(std::uint32_t value) {
    return {static_cast<std::uint8_t>(value), static_cast<std::uint8_t>(value >> 8),
            static_cast<std::uint8_t>(value >> 16), static_cast<std::uint8_t>(value >> 24)};
}
inline std::vector<std::uint8_t> net32(std::uint32_t value) {
    return {static_cast<std::uint8_t>(value >> 24), static_cast<std::uint8_t>(value >> 16),
            static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)};
}
inline std::vector<std::uint8_t> net16(std::uint32_t value) {
    return {static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)};
}

inline Verdict verdict(Verdict::Kind kind, std::string chain = {}) {
    return {kind, std::move(chain)};
}
inline Immediate verdict_immediate(Verdict::Kind kind, std::string chain = {}) {
    return Immediate{0, {}, verdict(kind, std::move(chain))};
}
inline Lookup lookup(std::string set, Register sreg = kReg1,
                     std::optional<Register> dreg = std::nullopt) {
    return Lookup{sreg, dreg, std::move(set), std::nullopt, false};
}
inline Lookup anonymous_lookup(std::size_t index, std::optional<Register> dreg = std::nullopt) {
    return Lookup{kReg1, dreg, {}, index, false};
}
inline Set tcp_udp() {
    Set set;
    set.key = {FieldType::InetProto};
    set.elements = {Element{{std::uint32_t{IPPROTO_TCP}}, {}, {}, {}, {}},
                    Element{{std::uint32_t{IPPROTO_UDP}}, {}, {}, {}, {}}};
    return set;
}
inline constexpr std::uint32_t kSeed = 0x6e61746c;
inline const std::uint32_t kEip10 = ip(203, 0, 113, 10);
inline const std::uint32_t kEip11 = ip(203, 0, 113, 11);

inline Set eip_port_map() {
    Set set;
    set.key = {FieldType::Integer32};
    set.data = {FieldType::Ipv4, FieldType::InetService};
    set.data_interval = true;
    set.elements = {Element{{0u}, {}, {kEip10, 1025u}, {kEip10, 65535u}, {}},
                    Element{{1u}, {}, {kEip11, 1025u}, {kEip11, 65535u}, {}}};
    return set;
}
inline Set eip_map() {
    Set set;
    set.key = {FieldType::Integer32};
    set.data = {FieldType::Ipv4};
    set.elements = {Element{{0u}, {}, {kEip10}, {}, {}}, Element{{1u}, {}, {kEip11}, {}, {}}};
    return set;
}
inline Nat snat_range() {
    return Nat{Nat::Type::Snat, 1u, 10u, 9u, 11u, 0};
}
inline Nat snat_address() {
    return Nat{Nat::Type::Snat, 1u, std::nullopt, std::nullopt, std::nullopt, 0};
}
inline Rule rule(std::string text, std::vector<Expr> exprs, std::vector<Set> anonymous = {}) {
    Rule r;
    r.owner = "layout-sample: " + text;
    r.text = std::move(text);
    r.exprs = std::move(exprs);
    r.anonymous_sets = std::move(anonymous);
    return r;
}
inline Chain base_chain(std::string name, std::string type, std::string hook, int priority,
                        std::vector<Rule> rules) {
    return Chain{std::move(name),
                 BaseChain{std::move(type), std::move(hook), priority, true},
                 std::move(rules),
                 {}};
}
inline Chain regular_chain(std::string name, std::vector<Rule> rules) {
    return Chain{std::move(name), std::nullopt, std::move(rules), {}};
}
inline Set make_set(std::string name, std::vector<FieldType> key, std::vector<FieldType> data,
                    bool interval, std::vector<Element> elements) {
    Set set;
    set.name = std::move(name);
    set.key = std::move(key);
    set.data = std::move(data);
    set.interval = interval;
    set.elements = std::move(elements);
    return set;
}
inline Element key(std::vector<Scalar> k) {
    return Element{std::move(k), {}, {}, {}, {}};
}
inline Element range(std::vector<Scalar> first, std::vector<Scalar> last) {
    return Element{std::move(first), std::move(last), {}, {}, {}};
}
inline Element mapping(std::vector<Scalar> k, std::vector<Scalar> d) {
    return Element{std::move(k), {}, std::move(d), {}, {}};
}

}  // namespace sample

inline kernel::Table layout_sample_table() {
    using namespace sample;
    Table table;
    auto ct_status_dnat = std::vector<Expr>{
        CtLoad{NFT_CT_STATUS, std::nullopt, kReg1},
        Bitwise{kReg1, kReg1, host32(0x20), host32(0)},
        Cmp{kReg1, CmpOp::Neq, host32(0)},
    };
    auto with = [](std::vector<Expr> head, std::vector<Expr> tail) {
        head.insert(head.end(), tail.begin(), tail.end());
        return head;
    };
    table.sets = {
        make_set("outside_ifaces", {FieldType::IfName}, {}, false,
                 {key({std::string("veth-wan")})}),
        make_set("vpc_cidrs", {FieldType::Ipv4}, {}, true,
                 {range({ip(10, 0, 0, 0)}, {ip(10, 0, 255, 255)})}),
        make_set("dnat_open", {FieldType::Ipv4}, {}, false,
                 {key({ip(203, 0, 113, 10)}), key({ip(203, 0, 113, 50)})}),
        make_set("igw_covered", {FieldType::Ipv4}, {}, true,
                 {range({ip(10, 0, 1, 0)}, {ip(10, 0, 1, 255)}),
                  range({ip(10, 0, 2, 0)}, {ip(10, 0, 2, 255)})}),
        make_set("echo_silent", {FieldType::Ipv4}, {}, false, {}),
        make_set("outside_realms", {FieldType::Realm}, {}, false, {key({5u}), key({6u})}),
        make_set("dnat_ports", {FieldType::Ipv4, FieldType::InetProto, FieldType::InetService},
                 {FieldType::Ipv4, FieldType::InetService}, false,
                 {mapping({ip(203, 0, 113, 10), 6u, 80u}, {ip(10, 0, 1, 10), 8080u})}),
        make_set("dnat_ip", {FieldType::Ipv4}, {FieldType::Ipv4}, false,
                 {mapping({ip(203, 0, 113, 12)}, {ip(10, 0, 1, 21)})}),
        make_set("snat_ip", {FieldType::Ipv4}, {FieldType::Ipv4}, false,
                 {mapping({ip(10, 0, 1, 21)}, {ip(203, 0, 113, 12)})}),
        make_set("snat_sources", {FieldType::Realm, FieldType::Ipv4}, {FieldType::Verdict}, true,
                 {Element{{5u, ip(10, 0, 1, 0)},
                          {5u, ip(10, 0, 1, 255)},
                          {},
                          {},
                          verdict(Verdict::Kind::Goto, "snat/ngw-1/snat-vsw-a")},
                  Element{{7u, ip(10, 0, 0, 0)},
                          {7u, ip(10, 0, 255, 255)},
                          {},
                          {},
                          verdict(Verdict::Kind::Goto, "masq/ngw-2")}}),
        make_set("return_marks", {FieldType::Ipv4}, {FieldType::Mark}, false,
                 {mapping({ip(203, 0, 113, 10)}, {0x4e540005u})}),
    };

    const PayloadLoad daddr{PayloadBase::Network, 16, 4, kReg1};
    const PayloadLoad saddr{PayloadBase::Network, 12, 4, kReg1};
    const MetaLoad l4proto{NFT_META_L4PROTO, kReg1};
    const RtLoad classid{NFT_RT_CLASSID, kReg1};
    table.chains = {
        base_chain("prerouting", "nat", "prerouting", -100,
                   {rule("meta l4proto { tcp, udp } dnat ip to ip daddr . meta l4proto . th dport "
                         "map @dnat_ports",
                         {l4proto, anonymous_lookup(0), daddr, MetaLoad{NFT_META_L4PROTO, 9},
                          PayloadLoad{PayloadBase::Transport, 2, 2, 10},
                          lookup("dnat_ports", kReg1, kReg1),
                          Nat{Nat::Type::Dnat, 1u, std::nullopt, 9u, std::nullopt, 0}},
                         {tcp_udp()}),
                    rule("dnat to ip daddr map @dnat_ip",
                         {daddr, lookup("dnat_ip", kReg1, kReg1),
                          Nat{Nat::Type::Dnat, 1u, std::nullopt, std::nullopt, std::nullopt, 0}})}),
        base_chain(
            "mark_replies", "filter", "prerouting", -150,
            {rule("ct direction reply ct status dnat meta mark set ct original ip daddr map "
                  "@return_marks",
                  with({CtLoad{NFT_CT_DIRECTION, std::nullopt, kReg1}, Cmp{kReg1, CmpOp::Eq, {1}}},
                       with(ct_status_dnat, {CtLoad{NFT_CT_DST_IP, std::uint8_t{0}, kReg1},
                                             lookup("return_marks", kReg1, kReg1),
                                             MetaSet{NFT_META_MARK, kReg1}})))}),
        base_chain("input", "filter", "input", 0,
                   {rule("icmp type echo-request ip daddr @echo_silent counter drop",
                         {l4proto, Cmp{kReg1, CmpOp::Eq, {IPPROTO_ICMP}},
                          PayloadLoad{PayloadBase::Transport, 0, 1, kReg1},
                          Cmp{kReg1, CmpOp::Eq, {8}}, daddr, lookup("echo_silent"), Counter{},
                          verdict_immediate(Verdict::Kind::Drop)})}),
        base_chain(
            "forward", "filter", "forward", 0,
            {rule("iifname @outside_ifaces ip daddr @vpc_cidrs jump inbound",
                  {MetaLoad{NFT_META_IIFNAME, kReg1}, lookup("outside_ifaces"), daddr,
                   lookup("vpc_cidrs"), verdict_immediate(Verdict::Kind::Jump, "inbound")})}),
        regular_chain(
            "inbound",
            {rule("ct state established,related accept",
                  {CtLoad{NFT_CT_STATE, std::nullopt, kReg1},
                   Bitwise{kReg1, kReg1, host32(6), host32(0)}, Cmp{kReg1, CmpOp::Neq, host32(0)},
                   verdict_immediate(Verdict::Kind::Accept)}),
             rule("ct status dnat ct original ip daddr @dnat_open accept",
                  with(ct_status_dnat,
                       {CtLoad{NFT_CT_DST_IP, std::uint8_t{0}, kReg1}, lookup("dnat_open"),
                        verdict_immediate(Verdict::Kind::Accept)})),
             rule("ip daddr @igw_covered accept",
                  {daddr, lookup("igw_covered"), verdict_immediate(Verdict::Kind::Accept)}),
             rule("counter drop", {Counter{}, verdict_immediate(Verdict::Kind::Drop)})}),
        base_chain("postrouting", "nat", "postrouting", 100,
                   {rule("rt classid @outside_realms snat to ip saddr map @snat_ip",
                         {classid, lookup("outside_realms"), saddr, lookup("snat_ip", kReg1, kReg1),
                          snat_address()}),
                    rule("rt classid . ip saddr vmap @snat_sources",
                         {classid, Byteorder{kReg1, kReg1, true, 4, 4},
                          PayloadLoad{PayloadBase::Network, 12, 4, 9},
                          lookup("snat_sources", kReg1, Register{0})}),
                    rule("rt classid @outside_realms ip saddr @vpc_cidrs counter drop",
                         {classid, lookup("outside_realms"), saddr, lookup("vpc_cidrs"), Counter{},
                          verdict_immediate(Verdict::Kind::Drop)})}),
        regular_chain(
            "snat/ngw-1/snat-vsw-a",
            {rule("meta l4proto { tcp, udp } snat ip to jhash ip saddr mod 2 seed 0x6e61746c map { "
                  "0 : 203.0.113.10 . 1025-65535, 1 : 203.0.113.11 . 1025-65535 }",
                  {l4proto, anonymous_lookup(0), PayloadLoad{PayloadBase::Network, 12, 4, 2},
                   Hash{2, 4, 2, kSeed, kReg1}, anonymous_lookup(1, kReg1), snat_range()},
                  {tcp_udp(), eip_port_map()}),
             rule("snat to jhash ip saddr mod 2 seed 0x6e61746c map { 0 : 203.0.113.10, 1 : "
                  "203.0.113.11 }",
                  {PayloadLoad{PayloadBase::Network, 12, 4, 2}, Hash{2, 4, 2, kSeed, kReg1},
                   anonymous_lookup(0, kReg1), snat_address()},
                  {eip_map()})}),
        regular_chain(
            "snat/ngw-1/spread",
            {rule("meta l4proto { tcp, udp } snat ip to jhash ip saddr . ip daddr . meta l4proto . "
                  "th sport . th dport mod 2 seed 0x6e61746c map { 0 : 203.0.113.10 . 1025-65535, "
                  "1 : 203.0.113.11 . 1025-65535 }",
                  {l4proto, anonymous_lookup(0), PayloadLoad{PayloadBase::Network, 12, 4, 2},
                   PayloadLoad{PayloadBase::Network, 16, 4, 13}, MetaLoad{NFT_META_L4PROTO, 14},
                   PayloadLoad{PayloadBase::Transport, 0, 2, 15},
                   PayloadLoad{PayloadBase::Transport, 2, 2, 3}, Hash{2, 20, 2, kSeed, kReg1},
                   anonymous_lookup(1, kReg1), snat_range()},
                  {tcp_udp(), eip_port_map()}),
             rule("snat to jhash ip saddr . ip daddr mod 2 seed 0x6e61746c map { 0 : 203.0.113.10, "
                  "1 : 203.0.113.11 }",
                  {PayloadLoad{PayloadBase::Network, 12, 4, 2},
                   PayloadLoad{PayloadBase::Network, 16, 4, 13}, Hash{2, 8, 2, kSeed, kReg1},
                   anonymous_lookup(0, kReg1), snat_address()},
                  {eip_map()})}),
        regular_chain(
            "snat/ngw-1/single",
            {rule(
                 "meta l4proto { tcp, udp } snat to 203.0.113.10:1025-65535",
                 {l4proto, anonymous_lookup(0), Immediate{1, net32(kEip10), std::nullopt},
                  Immediate{2, net16(1025), std::nullopt}, Immediate{3, net16(65535), std::nullopt},
                  Nat{Nat::Type::Snat, 1u, std::nullopt, 2u, 3u, NF_NAT_RANGE_PROTO_SPECIFIED}},
                 {tcp_udp()}),
             rule("snat to 203.0.113.10",
                  {Immediate{1, net32(kEip10), std::nullopt}, snat_address()})}),
        regular_chain("masq/ngw-2",
                      {rule("meta l4proto { tcp, udp } masquerade to :1025-65535",
                            {l4proto, anonymous_lookup(0), Immediate{1, net16(1025), std::nullopt},
                             Immediate{2, net16(65535), std::nullopt},
                             Masquerade{1u, 2u, NF_NAT_RANGE_PROTO_SPECIFIED}},
                            {tcp_udp()}),
                       rule("masquerade", {Masquerade{}})}),
    };
    return table;
}

}  // namespace natctl::testing
