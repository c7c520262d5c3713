#include "controller/compiler/rules.hpp"

#include <fmt/format.h>

#include <cstring>

#include "controller/model/addr.hpp"

namespace natctl::compiler::rules {
namespace {

using namespace kernel;

// Kernel numbers (linux/netfilter/nf_tables.h, nf_conntrack_common.h, nf_nat.h).
constexpr std::uint32_t kMetaMark = 3;
constexpr std::uint32_t kMetaIifname = 6;
constexpr std::uint32_t kMetaOifname = 7;
constexpr std::uint32_t kMetaL4proto = 16;
constexpr std::uint32_t kCtState = 0;
constexpr std::uint32_t kCtDirection = 1;
constexpr std::uint32_t kCtStatus = 2;
constexpr std::uint32_t kCtDstIp = 20;
constexpr std::uint32_t kRtClassid = 0;
constexpr std::uint8_t kCtDirOriginal = 0;
constexpr std::uint8_t kCtDirReply = 1;
constexpr std::uint32_t kCtStateEstablishedRelated = 0x2 | 0x4;
constexpr std::uint32_t kCtStatusConfirmed = 0x8;  // IPS_CONFIRMED
constexpr std::uint32_t kCtStatusDnat = 0x20;      // IPS_DST_NAT
constexpr std::uint32_t kNatRangeProtoSpecified = 0x2;
constexpr std::uint8_t kIpprotoIcmp = 1;
constexpr std::uint8_t kIcmpEchoRequest = 8;
constexpr std::uint32_t kIpSaddrOffset = 12;
constexpr std::uint32_t kIpDaddrOffset = 16;
constexpr std::uint32_t kThSportOffset = 0;
constexpr std::uint32_t kThDportOffset = 2;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;

// Registers exactly as nft allocates them for these rules (see the netlink debug sample).
constexpr Register kVerdictReg = 0;
constexpr Register kReg2 = 2;
constexpr Register kReg3 = 3;

std::vector<std::uint8_t> host_u32(std::uint32_t value) {
    std::vector<std::uint8_t> bytes(4);
    std::memcpy(bytes.data(), &value, 4);
    return bytes;
}
std::vector<std::uint8_t> network_u32(std::uint32_t value) {
    return {static_cast<std::uint8_t>(value >> 24), static_cast<std::uint8_t>(value >> 16),
            static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)};
}
std::vector<std::uint8_t> network_u16(std::uint16_t value) {
    return {static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)};
}

Expr ip_saddr(Register dreg = kReg1) {
    return PayloadLoad{PayloadBase::Network, kIpSaddrOffset, 4, dreg};
}
Expr ip_daddr(Register dreg = kReg1) {
    return PayloadLoad{PayloadBase::Network, kIpDaddrOffset, 4, dreg};
}
Expr l4proto(Register dreg = kReg1) {
    return MetaLoad{kMetaL4proto, dreg};
}
Expr lookup(const char* set, std::optional<Register> dreg = std::nullopt, Register sreg = kReg1) {
    return Lookup{sreg, dreg, set, std::nullopt, false};
}
Expr lookup_anonymous(std::size_t index, std::optional<Register> dreg = std::nullopt) {
    return Lookup{kReg1, dreg, "", index, false};
}
Expr verdict(Verdict::Kind kind, std::string chain = {}) {
    return Immediate{kVerdictReg, {}, Verdict{kind, std::move(chain)}};
}
Expr immediate(Register dreg, std::vector<std::uint8_t> data) {
    return Immediate{dreg, std::move(data), std::nullopt};
}
// `ct status dnat` / `ct state established,related` (any of the bits set) or, with
// `set` false, `ct status ! confirmed` (none set): a bit test on a host-order word.
std::vector<Expr> ct_bits(std::uint32_t key, std::uint32_t bits, bool set = true) {
    return {CtLoad{key, std::nullopt, kReg1}, Bitwise{kReg1, kReg1, host_u32(bits), host_u32(0)},
            Cmp{kReg1, set ? CmpOp::Neq : CmpOp::Eq, host_u32(0)}};
}

// `meta l4proto { tcp, udp }`: its anonymous set is always the rule's first.
Set tcp_udp_set() {
    Set set;
    set.key = {FieldType::InetProto};
    set.elements = {Element{{std::uint32_t{kProtoTcp}}, {}, {}, {}, std::nullopt},
                    Element{{std::uint32_t{kProtoUdp}}, {}, {}, {}, std::nullopt}};
    return set;
}
void match_tcp_udp(Rule& rule) {
    rule.exprs.push_back(l4proto());
    rule.exprs.push_back(lookup_anonymous(rule.anonymous_sets.size()));
    rule.anonymous_sets.push_back(tcp_udp_set());
}

std::string address_text(std::uint32_t address) {
    return model::to_string(model::Ipv4{address});
}

Rule make_rule(std::string text, std::vector<Expr> exprs) {
    Rule rule;
    rule.text = std::move(text);
    rule.exprs = std::move(exprs);
    return rule;
}

template <typename Format>
std::string jhash_map_text(const std::vector<std::uint32_t>& eips, Format&& value_text) {
    std::string text = "{ ";
    for (std::size_t index = 0; index < eips.size(); ++index) {
        if (index > 0) text += ", ";
        text += fmt::format("{} : {}", index, value_text(eips[index]));
    }
    return text + " }";
}

}  // namespace

std::string snat_chain_name(const std::string& gateway, const std::string& entry) {
    return fmt::format("snat/{}/{}", gateway, entry);
}
std::string masquerade_chain_name(const std::string& gateway) {
    return fmt::format("masq/{}", gateway);
}

Rule prerouting_dnat_ports() {
    Rule rule;
    rule.text =
        "meta l4proto { tcp, udp } dnat ip to ip daddr . meta l4proto . th dport map @dnat_ports";
    match_tcp_udp(rule);
    rule.exprs.push_back(ip_daddr());
    rule.exprs.push_back(l4proto(kReg32_00 + 1));
    rule.exprs.push_back(PayloadLoad{PayloadBase::Transport, kThDportOffset, 2, kReg32_00 + 2});
    rule.exprs.push_back(lookup(kDnatPorts, kReg1));
    rule.exprs.push_back(Nat{Nat::Type::Dnat, kReg1, std::nullopt, kReg32_00 + 1, std::nullopt, 0});
    return rule;
}

Rule prerouting_dnat_ip() {
    return make_rule("dnat to ip daddr map @dnat_ip",
                     {ip_daddr(), lookup(kDnatIp, kReg1),
                      Nat{Nat::Type::Dnat, kReg1, std::nullopt, std::nullopt, std::nullopt, 0}});
}

Rule mark_replies() {
    std::vector<Expr> exprs{CtLoad{kCtDirection, std::nullopt, kReg1},
                            Cmp{kReg1, CmpOp::Eq, {kCtDirReply}}};
    for (auto& expr : ct_bits(kCtStatus, kCtStatusDnat))
        exprs.push_back(std::move(expr));
    exprs.push_back(CtLoad{kCtDstIp, kCtDirOriginal, kReg1});
    exprs.push_back(lookup(kReturnMarks, kReg1));
    exprs.push_back(MetaSet{kMetaMark, kReg1});
    return make_rule(
        "ct direction reply ct status dnat meta mark set ct original ip daddr map @return_marks",
        std::move(exprs));
}

Rule prerouting_echo_local() {
    return make_rule("icmp type echo-request ip daddr @echo_local accept",
                     {l4proto(), Cmp{kReg1, CmpOp::Eq, {kIpprotoIcmp}},
                      PayloadLoad{PayloadBase::Transport, 0, 1, kReg1},
                      Cmp{kReg1, CmpOp::Eq, {kIcmpEchoRequest}}, ip_daddr(), lookup(kEchoLocal),
                      verdict(Verdict::Kind::Accept)});
}

Rule input_echo_silent() {
    return make_rule("icmp type echo-request ip daddr @echo_silent counter packets 0 bytes 0 drop",
                     {l4proto(), Cmp{kReg1, CmpOp::Eq, {kIpprotoIcmp}},
                      PayloadLoad{PayloadBase::Transport, 0, 1, kReg1},
                      Cmp{kReg1, CmpOp::Eq, {kIcmpEchoRequest}}, ip_daddr(), lookup(kEchoSilent),
                      Counter{}, verdict(Verdict::Kind::Drop)});
}

std::vector<Rule> forward() {
    // A confirmed connection's first packet passed every hook (a dropped first packet leaves
    // its entry unconfirmed and freed), so its later packets need nothing from natctl: this
    // leaves them conntrack's work alone. `ct status confirmed` rather than `ct state
    // established`: conntrack calls every packet of a flow that has had no reply (one-way
    // UDP: streaming, telemetry) "new", and those would otherwise walk the inbound chain
    // and its set lookups on every packet.
    auto confirmed = ct_bits(kCtStatus, kCtStatusConfirmed);
    confirmed.push_back(verdict(Verdict::Kind::Accept));
    std::vector<Rule> out;
    out.push_back(make_rule("ct status confirmed accept", std::move(confirmed)));
    // After the fast path: a connection the takeover has not committed yet is never
    // confirmed on this node, and an empty ha_hold (a single node, or the primary) costs
    // one lookup on each connection's first packet only.
    out.push_back(forward_ha_hold());
    // A private VPC (an IPv4 gateway deleted in private mode) has no internet path: its
    // connections die at their first packet, whichever translation or route they found.
    out.push_back(
        make_rule("oifname @outside_ifaces ip saddr @private_vpcs counter packets 0 "
                  "bytes 0 drop",
                  {MetaLoad{kMetaOifname, kReg1}, lookup(kOutsideIfaces), ip_saddr(),
                   lookup(kPrivateVpcs), Counter{}, verdict(Verdict::Kind::Drop)}));
    out.push_back(make_rule("iifname @outside_ifaces ip daddr @vpc_cidrs jump inbound",
                            {MetaLoad{kMetaIifname, kReg1}, lookup(kOutsideIfaces), ip_daddr(),
                             lookup(kVpcCidrs), verdict(Verdict::Kind::Jump, kInboundChain)}));
    return out;
}

Rule forward_ha_hold() {
    return make_rule("ct state @ha_hold jump ha_hold",
                     {CtLoad{kCtState, std::nullopt, kReg1}, lookup(kHaHold),
                      verdict(Verdict::Kind::Jump, kHaHoldChain)});
}

Rule input_ha_hold() {
    return make_rule("ip daddr @budget_eips ct state @ha_hold jump ha_hold",
                     {ip_daddr(), lookup(kBudgetEips), CtLoad{kCtState, std::nullopt, kReg1},
                      lookup(kHaHold), verdict(Verdict::Kind::Jump, kHaHoldChain)});
}

std::vector<Rule> ha_hold() {
    // A connection that starts with a SYN is new for certain; anything else may be the
    // middle of a connection whose conntrack entry the takeover has not committed yet:
    // translating it now would give it a fresh mapping (another port), and a TCP segment
    // delivered to the node itself would be answered with a reset; either kills it.
    constexpr std::uint8_t kTcpFlagsOffset = 13;
    constexpr std::uint8_t kFinSynRstAck = 0x01 | 0x02 | 0x04 | 0x10;
    constexpr std::uint8_t kSyn = 0x02;
    std::vector<Rule> out;
    out.push_back(make_rule("tcp flags syn / fin,syn,rst,ack return",
                            {l4proto(), Cmp{kReg1, CmpOp::Eq, {kProtoTcp}},
                             PayloadLoad{PayloadBase::Transport, kTcpFlagsOffset, 1, kReg1},
                             Bitwise{kReg1, kReg1, {kFinSynRstAck}, {0}},
                             Cmp{kReg1, CmpOp::Eq, {kSyn}}, verdict(Verdict::Kind::Return)}));
    out.push_back(
        make_rule("counter packets 0 bytes 0 drop", {Counter{}, verdict(Verdict::Kind::Drop)}));
    return out;
}

std::vector<Rule> inbound() {
    std::vector<Rule> out;
    // After DNAT: a DNAT entry, IP mapping or public IP of a private VPC reaches nothing.
    out.push_back(
        make_rule("ip daddr @private_vpcs counter packets 0 bytes 0 drop",
                  {ip_daddr(), lookup(kPrivateVpcs), Counter{}, verdict(Verdict::Kind::Drop)}));
    auto established = ct_bits(kCtState, kCtStateEstablishedRelated);
    established.push_back(verdict(Verdict::Kind::Accept));
    out.push_back(make_rule("ct state established,related accept", std::move(established)));

    auto dnat = ct_bits(kCtStatus, kCtStatusDnat);
    dnat.push_back(CtLoad{kCtDstIp, kCtDirOriginal, kReg1});
    dnat.push_back(lookup(kDnatOpen));
    dnat.push_back(verdict(Verdict::Kind::Accept));
    out.push_back(
        make_rule("ct status dnat ct original ip daddr @dnat_open accept", std::move(dnat)));

    out.push_back(make_rule("ip daddr @igw_covered accept",
                            {ip_daddr(), lookup(kIgwCovered), verdict(Verdict::Kind::Accept)}));
    out.push_back(
        make_rule("counter packets 0 bytes 0 drop", {Counter{}, verdict(Verdict::Kind::Drop)}));
    return out;
}

std::vector<Rule> postrouting() {
    std::vector<Rule> out;
    out.push_back(make_rule(
        "rt classid @outside_realms snat to ip saddr map @snat_ip",
        {RtLoad{kRtClassid, kReg1}, lookup(kOutsideRealms), ip_saddr(), lookup(kSnatIp, kReg1),
         Nat{Nat::Type::Snat, kReg1, std::nullopt, std::nullopt, std::nullopt, 0}}));
    // The interval set stores the realm in network order inside the concatenation.
    out.push_back(make_rule("rt classid . ip saddr vmap @snat_sources",
                            {RtLoad{kRtClassid, kReg1}, Byteorder{kReg1, kReg1, true, 4, 4},
                             ip_saddr(kReg32_00 + 1), lookup(kSnatSources, kVerdictReg)}));
    // Keyed on the outside interface rather than the realm, so that nothing with a VPC
    // source leaves untranslated whatever route it took (a main-table default included,
    // or a gateway whose routes are programmed a moment before its SNAT chain).
    out.push_back(
        make_rule("oifname @outside_ifaces ip saddr @vpc_cidrs counter packets 0 bytes 0 drop",
                  {MetaLoad{kMetaOifname, kReg1}, lookup(kOutsideIfaces), ip_saddr(),
                   lookup(kVpcCidrs), Counter{}, verdict(Verdict::Kind::Drop)}));
    return out;
}

namespace {

// The destination tuple budgets are kept per: ip daddr . meta l4proto . th dport in
// reg 1 and the 4-byte registers 9 and 10, as nft lays the concatenation out.
constexpr const char* kDestinationTupleText = "ip daddr . meta l4proto . th dport";
void load_destination_tuple(std::vector<Expr>& exprs) {
    exprs.push_back(ip_daddr());
    exprs.push_back(l4proto(kReg32_00 + 1));
    exprs.push_back(PayloadLoad{PayloadBase::Transport, kThDportOffset, 2, kReg32_00 + 2});
}

// Affinity hashes the source address alone; otherwise the 5-tuple (TCP/UDP) or the
// address pair (everything else), laid out in consecutive 4-byte registers from reg 2.
std::pair<std::vector<Expr>, std::uint32_t> hash_inputs(bool affinity, bool with_ports_tuple) {
    std::vector<Expr> exprs{ip_saddr(kReg2)};
    if (affinity) return {exprs, 4};
    constexpr Register kReg2Word1 = kReg32_00 + 5;
    exprs.push_back(ip_daddr(kReg2Word1));
    if (!with_ports_tuple) return {exprs, 8};
    exprs.push_back(l4proto(kReg2Word1 + 1));
    exprs.push_back(PayloadLoad{PayloadBase::Transport, kThSportOffset, 2, kReg2Word1 + 2});
    exprs.push_back(PayloadLoad{PayloadBase::Transport, kThDportOffset, 2, kReg3});
    return {exprs, 20};
}
const char* hash_text(bool affinity, bool with_ports_tuple) {
    if (affinity) return "ip saddr";
    return with_ports_tuple ? "ip saddr . ip daddr . meta l4proto . th sport . th dport"
                            : "ip saddr . ip daddr";
}

// `counter [log prefix "..." group N] drop`, as nft prints it.
void append_refusal(Rule& rule, const std::optional<RefusalLog>& log) {
    rule.text += "counter packets 0 bytes 0 ";
    rule.exprs.push_back(Counter{});
    if (log) {
        rule.text += fmt::format("log prefix \"{}\" group {} ", log->prefix, log->group);
        rule.exprs.push_back(Log{log->prefix, log->group});
    }
    rule.text += "drop";
    rule.exprs.push_back(verdict(Verdict::Kind::Drop));
}

}  // namespace

Rule snat_try(std::uint32_t eip, const std::string& full_set, PortRange ports, bool steered) {
    Rule rule;
    // nft prints a single-port immediate range as lo-lo (unlike the map form).
    rule.text = fmt::format(
        "meta l4proto {{ tcp, udp }} {} != @{} {}snat to {}:{}-{}", kDestinationTupleText, full_set,
        steered ? "counter packets 0 bytes 0 " : "", address_text(eip), ports.lo, ports.hi);
    match_tcp_udp(rule);
    load_destination_tuple(rule.exprs);
    rule.exprs.push_back(Lookup{kReg1, std::nullopt, full_set, std::nullopt, true});
    if (steered) rule.exprs.push_back(Counter{});
    rule.exprs.push_back(immediate(kReg1, network_u32(eip)));
    rule.exprs.push_back(immediate(kReg2, network_u16(ports.lo)));
    rule.exprs.push_back(immediate(kReg3, network_u16(ports.hi)));
    rule.exprs.push_back(
        Nat{Nat::Type::Snat, kReg1, std::nullopt, kReg2, kReg3, kNatRangeProtoSpecified});
    return rule;
}

Rule snat_dispatch(bool affinity, const std::vector<std::string>& chains) {
    const auto modulus = static_cast<std::uint32_t>(chains.size());
    std::string map_text = "{ ";
    Set vmap;
    vmap.key = {FieldType::Integer32};
    vmap.data = {FieldType::Verdict};
    for (std::uint32_t index = 0; index < modulus; ++index) {
        if (index > 0) map_text += ", ";
        map_text += fmt::format("{} : goto {}", index, chains[index]);
        vmap.elements.push_back(
            Element{{index}, {}, {}, {}, Verdict{Verdict::Kind::Goto, chains[index]}});
    }
    Rule rule;
    rule.text = fmt::format("meta l4proto {{ tcp, udp }} jhash {} mod {} seed 0x{:08x} vmap {} }}",
                            hash_text(affinity, true), modulus, kJhashSeed, map_text);
    match_tcp_udp(rule);
    auto [inputs, length] = hash_inputs(affinity, true);
    for (auto& expr : inputs)
        rule.exprs.push_back(std::move(expr));
    rule.exprs.push_back(Hash{kReg2, length, modulus, kJhashSeed, kReg1});
    rule.exprs.push_back(lookup_anonymous(rule.anonymous_sets.size(), kVerdictReg));
    rule.anonymous_sets.push_back(std::move(vmap));
    return rule;
}

Rule snat_other_protocols(const std::vector<std::uint32_t>& eips, bool affinity) {
    if (eips.size() == 1)
        return make_rule(
            fmt::format("snat to {}", address_text(eips.front())),
            {immediate(kReg1, network_u32(eips.front())),
             Nat{Nat::Type::Snat, kReg1, std::nullopt, std::nullopt, std::nullopt, 0}});
    const auto modulus = static_cast<std::uint32_t>(eips.size());
    Rule rule;
    rule.text =
        fmt::format("snat to jhash {} mod {} seed 0x{:08x} map {}", hash_text(affinity, false),
                    modulus, kJhashSeed, jhash_map_text(eips, address_text));
    auto [inputs, length] = hash_inputs(affinity, false);
    rule.exprs = std::move(inputs);
    rule.exprs.push_back(Hash{kReg2, length, modulus, kJhashSeed, kReg1});
    Set address_map;
    address_map.key = {FieldType::Integer32};
    address_map.data = {FieldType::Ipv4};
    for (std::uint32_t index = 0; index < modulus; ++index)
        address_map.elements.push_back(Element{{index}, {}, {eips[index]}, {}, std::nullopt});
    rule.exprs.push_back(lookup_anonymous(0, kReg1));
    rule.anonymous_sets.push_back(std::move(address_map));
    rule.exprs.push_back(Nat{Nat::Type::Snat, kReg1, std::nullopt, std::nullopt, std::nullopt, 0});
    return rule;
}

Rule refuse(bool tcp_udp_only, const std::optional<RefusalLog>& log) {
    Rule rule;
    if (tcp_udp_only) {
        rule.text = "meta l4proto { tcp, udp } ";
        match_tcp_udp(rule);
    }
    append_refusal(rule, log);
    return rule;
}

Rule instance_limit(const std::string& set, std::uint32_t max_connections,
                    const std::optional<RefusalLog>& log) {
    Rule rule;
    rule.text = fmt::format("meta l4proto {{ tcp, udp }} add @{} {{ ip saddr ct count over {} }} ",
                            set, max_connections);
    match_tcp_udp(rule);
    rule.exprs.push_back(ip_saddr());
    rule.exprs.push_back(Dynset{Dynset::Op::Add, kReg1, set, 0, max_connections});
    append_refusal(rule, log);
    return rule;
}

Rule budget_dispatch(const std::string& accounting_chain) {
    // A connection's first packet only (its entry is confirmed after the last postrouting
    // hook). Not `ct state new`: that holds for every packet of a flow without a reply yet,
    // and each would cost a `ct count` walk.
    auto exprs = ct_bits(kCtStatus, kCtStatusConfirmed, false);
    Rule rule = make_rule(
        fmt::format("ct status ! confirmed meta l4proto {{ tcp, udp }} ip saddr @{} goto {}",
                    kBudgetEips, accounting_chain),
        std::move(exprs));
    match_tcp_udp(rule);
    rule.exprs.push_back(ip_saddr());
    rule.exprs.push_back(lookup(kBudgetEips));
    rule.exprs.push_back(verdict(Verdict::Kind::Goto, accounting_chain));
    return rule;
}

namespace {
void match_source(Rule& rule, std::uint32_t eip) {
    rule.text += fmt::format("ip saddr {} ", address_text(eip));
    rule.exprs.push_back(ip_saddr());
    rule.exprs.push_back(Cmp{kReg1, CmpOp::Eq, network_u32(eip)});
}
}  // namespace

Rule budget_mark_full(std::uint32_t eip, const std::string& count_set, const std::string& full_set,
                      std::uint32_t budget, std::uint32_t full_timeout_seconds) {
    Rule rule;
    match_source(rule, eip);
    // Over budget - 1 with this connection counted: the tuple now holds the whole budget.
    rule.text += fmt::format("add @{} {{ {} ct count over {} }} update @{} {{ {} timeout {}s }}",
                             count_set, kDestinationTupleText, budget - 1, full_set,
                             kDestinationTupleText, full_timeout_seconds);
    load_destination_tuple(rule.exprs);
    rule.exprs.push_back(Dynset{Dynset::Op::Add, kReg1, count_set, 0, budget - 1});
    load_destination_tuple(rule.exprs);
    rule.exprs.push_back(Dynset{Dynset::Op::Update, kReg1, full_set,
                                std::uint64_t{full_timeout_seconds} * 1000, std::nullopt});
    return rule;
}

Rule budget_backstop(std::uint32_t eip, const std::string& limit_set, std::uint32_t limit,
                     const std::optional<RefusalLog>& log) {
    Rule rule;
    match_source(rule, eip);
    rule.text +=
        fmt::format("add @{} {{ {} ct count over {} }} ", limit_set, kDestinationTupleText, limit);
    load_destination_tuple(rule.exprs);
    rule.exprs.push_back(Dynset{Dynset::Op::Add, kReg1, limit_set, 0, limit});
    append_refusal(rule, log);
    return rule;
}

std::vector<Rule> masquerade(PortRange ports) {
    std::vector<Rule> out;
    Rule with_ports;
    with_ports.text =
        fmt::format("meta l4proto {{ tcp, udp }} masquerade to :{}-{}", ports.lo, ports.hi);
    match_tcp_udp(with_ports);
    with_ports.exprs.push_back(immediate(kReg1, network_u16(ports.lo)));
    with_ports.exprs.push_back(immediate(kReg2, network_u16(ports.hi)));
    with_ports.exprs.push_back(Masquerade{kReg1, kReg2, kNatRangeProtoSpecified});
    out.push_back(std::move(with_ports));
    out.push_back(make_rule("masquerade", {Masquerade{}}));
    return out;
}

}  // namespace natctl::compiler::rules

namespace natctl::compiler::rules {
namespace {

// nft prints a byte quantity in the largest of bytes, kbytes, mbytes that divides it.
std::string byte_quantity_text(std::uint64_t bytes) {
    static constexpr const char* kUnits[] = {"bytes", "kbytes", "mbytes"};
    std::size_t unit = 0;
    while (unit + 1 < std::size(kUnits) && bytes != 0 && bytes % 1024 == 0) {
        bytes /= 1024;
        ++unit;
    }
    return fmt::format("{} {}", bytes, kUnits[unit]);
}

}  // namespace

Rule eip_meter_dispatch(bool inbound, const std::string& map) {
    return make_rule(fmt::format("ip {} vmap @{}", inbound ? "daddr" : "saddr", map),
                     {inbound ? ip_daddr() : ip_saddr(), lookup(map.c_str(), kVerdictReg)});
}

Rule eip_cap(std::uint64_t bytes_per_second, std::uint32_t burst_bytes) {
    return make_rule(
        fmt::format("limit rate over {}/second burst {} counter packets 0 bytes 0 drop",
                    byte_quantity_text(bytes_per_second), byte_quantity_text(burst_bytes)),
        {Limit{bytes_per_second, burst_bytes, true}, Counter{}, verdict(Verdict::Kind::Drop)});
}

Rule eip_count() {
    return make_rule("counter packets 0 bytes 0", {Counter{}});
}

}  // namespace natctl::compiler::rules
