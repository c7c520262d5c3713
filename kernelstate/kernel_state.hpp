// The vocabulary shared by the compiler (which produces it), the reconciler (which diffs
// it) and netlink/ (which programs and reads it back): nftables objects at the level of
// libnftnl expressions, policy rules, routes and addresses. Pure value types, no I/O, no
// dependency on the model — so that netlink/ never includes controller/ and the compiler
// never includes netlink/.
#pragma once

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace natctl::kernel {

// Ownership marks that let natctl recognise its own kernel objects and never touch anyone
// else's. Documented in the README.
inline constexpr const char* kTableName = "natctl";       // table ip natctl
inline constexpr std::uint8_t kRouteProtocol = 147;       // rtm_protocol / FRA_PROTOCOL / IFA_PROTO
inline constexpr std::uint32_t kRulePriorityMin = 10000;  // ip rule priorities natctl uses
inline constexpr std::uint32_t kRulePriorityMax = 10999;
inline constexpr std::uint32_t kRouteTableMin = 20000;  // kernel route table ids natctl uses
inline constexpr std::uint32_t kRouteTableMax = 29999;
inline constexpr std::uint32_t kReturnMarkBase = 0x4e540000;  // fwmark of DNAT'd replies
inline constexpr std::uint32_t kReturnMarkMask = 0xffff0000;

// Connections refused at a gateway (port budgets) are logged to this NFLOG group, when the
// gateway's session_log is not off, with the prefix
//     natctl <reason> <realm> <entry>
// reason: kRefusalBudget | kRefusalInstanceLimit; realm: the gateway's route realm
// (decimal); entry: the SNAT entry's name, or "-" for an EIP's budget backstop, which no
// single entry owns. The session log reader parses exactly this (docs/KERNEL-LAYOUT.md).
inline constexpr std::uint16_t kRefusalLogGroup = 20052;
inline constexpr const char* kRefusalLogTag = "natctl";
inline constexpr const char* kRefusalBudget = "budget";
inline constexpr const char* kRefusalInstanceLimit = "instance_limit";
inline constexpr const char* kRefusalNoEntry = "-";
inline std::string refusal_log_prefix(const std::string& reason, std::uint32_t realm,
                                      const std::string& entry) {
    return std::string(kRefusalLogTag) + " " + reason + " " + std::to_string(realm) + " " +
           (entry.empty() ? std::string(kRefusalNoEntry) : entry);
}

// The names nft and conntrack print for the IP protocols natctl translates or reports;
// nullopt for the others, which each caller prints its own way (a number, "proto N").
inline std::optional<std::string_view> protocol_name(std::uint32_t protocol) {
    switch (protocol) {
        case 1:
            return "icmp";
        case 6:
            return "tcp";
        case 17:
            return "udp";
        case 132:
            return "sctp";
        default:
            return std::nullopt;
    }
}

// ---- nftables ---------------------------------------------------------------------------

// Datatypes of set keys and data, with nft's own type ids (src/datatype.h) so that the
// netlink layer can encode the set's key type and `nft list` prints elements correctly.
enum class FieldType : std::uint8_t {
    Verdict,      // TYPE_VERDICT (1)
    Integer32,    // TYPE_INTEGER (4), 4 bytes: results of jhash
    Ipv4,         // TYPE_IPADDR (7), network byte order
    InetProto,    // TYPE_INET_PROTOCOL (12), 1 byte
    InetService,  // TYPE_INET_SERVICE (13), 2 bytes network order
    Mark,         // TYPE_MARK (19), 4 bytes host order
    Realm,        // TYPE_REALM (22), 4 bytes host order
    CtState,      // TYPE_CT_STATE (26), 4 bytes host order: a bitmask (new = 8)
    IfName,       // TYPE_IFNAME (41), 16 bytes, zero padded
};

struct Verdict {
    enum class Kind : std::uint8_t { Accept, Drop, Return, Jump, Goto };
    Kind kind = Kind::Accept;
    std::string chain;  // Jump / Goto only
    auto operator<=>(const Verdict&) const = default;
};

// A scalar field value: numbers in host byte order (addresses, ports, protocols, marks,
// realms, integers) or an interface name.
using Scalar = std::variant<std::uint32_t, std::string>;

// The values of one element field list (key, key end, data, data end). Sets hold up to
// ~100k elements that natctld keeps for as long as it runs, and almost every value is a
// number: up to kInline numbers sit inline (no allocation per element; a set's elements
// are one contiguous block), anything else (an interface name, a longer list) spills to
// the heap. Values read back as Scalars; equality and ordering are those of the
// std::vector<Scalar> it stands for, whichever way it is stored.
class FieldList {
  public:
    static constexpr std::size_t kInline = 4;

    class const_iterator {
      public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = Scalar;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = Scalar;
        const_iterator() = default;
        const_iterator(const FieldList* list, std::size_t index) : list_(list), index_(index) {}
        Scalar operator*() const { return (*list_)[index_]; }
        const_iterator& operator++() {
            ++index_;
            return *this;
        }
        const_iterator operator++(int) {
            auto before = *this;
            ++index_;
            return before;
        }
        bool operator==(const const_iterator& other) const { return index_ == other.index_; }

      private:
        const FieldList* list_ = nullptr;
        std::size_t index_ = 0;
    };

    FieldList() = default;
    FieldList(std::initializer_list<Scalar> values) {
        for (const auto& value : values)
            push_back(value);
    }
    // Implicit: call sites build values as std::vector<Scalar> (readback, tests).
    FieldList(const std::vector<Scalar>& values) {
        for (const auto& value : values)
            push_back(value);
    }
    FieldList(const FieldList& other)
        : numbers_(other.numbers_),
          size_(other.size_),
          spilled_(other.spilled_ ? std::make_unique<std::vector<Scalar>>(*other.spilled_)
                                  : nullptr) {}
    FieldList(FieldList&&) noexcept = default;
    FieldList& operator=(const FieldList& other) {
        if (this != &other) *this = FieldList(other);
        return *this;
    }
    FieldList& operator=(FieldList&&) noexcept = default;
    ~FieldList() = default;

    std::size_t size() const { return spilled_ ? spilled_->size() : size_; }
    bool empty() const { return size() == 0; }

    bool is_number(std::size_t i) const {
        return !spilled_ || std::holds_alternative<std::uint32_t>((*spilled_)[i]);
    }
    // Only for is_number(i).
    std::uint32_t number(std::size_t i) const {
        return spilled_ ? std::get<std::uint32_t>((*spilled_)[i]) : numbers_[i];
    }
    // Only for !is_number(i).
    std::string_view name(std::size_t i) const { return std::get<std::string>((*spilled_)[i]); }

    Scalar operator[](std::size_t i) const {
        if (spilled_) return (*spilled_)[i];
        return numbers_[i];
    }
    Scalar front() const { return (*this)[0]; }
    Scalar back() const { return (*this)[size() - 1]; }
    const_iterator begin() const { return {this, 0}; }
    const_iterator end() const { return {this, size()}; }

    void push_back(Scalar value) {
        if (!spilled_ && size_ < kInline && std::holds_alternative<std::uint32_t>(value)) {
            numbers_[size_++] = std::get<std::uint32_t>(value);
            return;
        }
        if (!spilled_) {
            spilled_ =
                std::make_unique<std::vector<Scalar>>(numbers_.begin(), numbers_.begin() + size_);
            numbers_ = {};
            size_ = 0;
        }
        spilled_->push_back(std::move(value));
    }
    template <class... Args>
    void emplace_back(Args&&... args) {
        push_back(Scalar(std::forward<Args>(args)...));
    }
    void clear() {
        numbers_ = {};
        size_ = 0;
        spilled_.reset();
    }

    friend bool operator==(const FieldList& a, const FieldList& b) {
        return (a <=> b) == std::strong_ordering::equal;
    }
    friend std::strong_ordering operator<=>(const FieldList& a, const FieldList& b) {
        if (!a.spilled_ && !b.spilled_) {
            for (std::size_t i = 0; i < a.size_ && i < b.size_; ++i)
                if (auto c = a.numbers_[i] <=> b.numbers_[i]; c != 0) return c;
            return a.size_ <=> b.size_;
        }
        auto n = std::min(a.size(), b.size());
        for (std::size_t i = 0; i < n; ++i)
            if (auto c = a[i] <=> b[i]; c != 0) return c;
        return a.size() <=> b.size();
    }

  private:
    std::array<std::uint32_t, kInline> numbers_{};
    std::uint8_t size_ = 0;
    std::unique_ptr<std::vector<Scalar>> spilled_;  // set: every value is here
};

struct Element {
    FieldList key;                   // one value per key field
    FieldList key_end;               // interval sets: inclusive last key; otherwise empty
    FieldList data;                  // maps with non-verdict data
    FieldList data_end;              // data ranges (NAT address/port ranges): inclusive end
    std::optional<Verdict> verdict;  // verdict maps
    auto operator<=>(const Element&) const = default;
};

struct Set {
    std::string name;  // anonymous sets: empty, named by the netlink layer
    std::vector<FieldType> key;
    std::vector<FieldType> data;  // empty: a set; {Verdict}: a vmap
    bool interval = false;        // ranges/prefixes in the key
    bool data_interval = false;   // data holds ranges (NAT to address . port-range)
    std::string comment;
    std::vector<Element> elements;  // sorted, unique by key
    // Filled by the data plane (dynset, NFT_SET_EVAL): natctl programs the set empty and
    // never diffs, deletes or reports its elements as drift.
    bool dynamic = false;
    bool timeout = false;    // elements may carry a timeout (NFT_SET_TIMEOUT)
    std::uint32_t size = 0;  // most elements the kernel admits; 0: no limit declared
    bool operator==(const Set&) const = default;

    bool is_map() const { return !data.empty(); }
};

// Registers as the kernel numbers them: NFT_REG_VERDICT (0), the 16-byte NFT_REG_1..4
// (1..4) and the 4-byte NFT_REG32_00..15 (8..23) that concatenations use.
using Register = std::uint32_t;
inline constexpr Register kReg1 = 1;
inline constexpr Register kReg32_00 = 8;

enum class PayloadBase : std::uint8_t { Network, Transport };
struct PayloadLoad {
    PayloadBase base = PayloadBase::Network;
    std::uint32_t offset = 0;
    std::uint32_t len = 0;
    Register dreg = kReg1;
    auto operator<=>(const PayloadLoad&) const = default;
};

// Keys use the kernel's NFT_META_* / NFT_CT_* / NFT_RT_* numbers.
struct MetaLoad {
    std::uint32_t key = 0;
    Register dreg = kReg1;
    auto operator<=>(const MetaLoad&) const = default;
};
struct MetaSet {
    std::uint32_t key = 0;
    Register sreg = kReg1;
    auto operator<=>(const MetaSet&) const = default;
};
struct CtLoad {
    std::uint32_t key = 0;
    std::optional<std::uint8_t> direction;  // IP_CT_DIR_ORIGINAL (0) / IP_CT_DIR_REPLY (1)
    Register dreg = kReg1;
    auto operator<=>(const CtLoad&) const = default;
};
struct RtLoad {
    std::uint32_t key = 0;
    Register dreg = kReg1;
    auto operator<=>(const RtLoad&) const = default;
};

enum class CmpOp : std::uint8_t { Eq, Neq };
struct Cmp {
    Register sreg = kReg1;
    CmpOp op = CmpOp::Eq;
    std::vector<std::uint8_t> data;  // exactly as it sits in the register
    auto operator<=>(const Cmp&) const = default;
};

// dreg = (sreg & mask) ^ xor over len bytes.
struct Bitwise {
    Register sreg = kReg1;
    Register dreg = kReg1;
    std::vector<std::uint8_t> mask;
    std::vector<std::uint8_t> xor_;
    auto operator<=>(const Bitwise&) const = default;
};

// A lookup in a named set (set_name) or in one of the rule's anonymous sets (by index).
struct Lookup {
    Register sreg = kReg1;
    std::optional<Register> dreg;  // maps: where the data goes; vmaps: kRegVerdict (0)
    std::string set_name;
    std::optional<std::size_t> anonymous_index;
    bool invert = false;
    auto operator<=>(const Lookup&) const = default;
};

struct Hash {
    Register sreg = kReg1;
    std::uint32_t len = 0;  // bytes of input starting at sreg
    std::uint32_t modulus = 1;
    std::uint32_t seed = 0;
    Register dreg = kReg1;
    auto operator<=>(const Hash&) const = default;
};

struct Immediate {
    Register dreg = 0;
    std::vector<std::uint8_t> data;  // data immediates
    std::optional<Verdict> verdict;  // verdict immediates (dreg 0)
    auto operator<=>(const Immediate&) const = default;
};

struct Nat {
    enum class Type : std::uint8_t { Snat, Dnat };
    Type type = Type::Snat;
    std::optional<Register> addr_min;
    std::optional<Register> addr_max;
    std::optional<Register> proto_min;
    std::optional<Register> proto_max;
    std::uint32_t flags = 0;  // NF_NAT_RANGE_* (e.g. PROTO_SPECIFIED)
    auto operator<=>(const Nat&) const = default;
};

struct Masquerade {
    std::optional<Register> proto_min;
    std::optional<Register> proto_max;
    std::uint32_t flags = 0;
    auto operator<=>(const Masquerade&) const = default;
};

// Converts host-order realms/marks to network order before they join a concatenation
// looked up in an interval set (nft does the same so that ranges compare correctly).
struct Byteorder {
    Register sreg = kReg1;
    Register dreg = kReg1;
    bool to_network = true;  // hton; false: ntoh
    std::uint32_t len = 4;
    std::uint32_t size = 4;
    auto operator<=>(const Byteorder&) const = default;
};

struct Counter {
    auto operator<=>(const Counter&) const = default;
};

// Adds (or refreshes) the key held from sreg_key in a dynamic named set from the packet
// path. With connlimit_over the new element gets its own connection list (nft_connlimit,
// `ct count over N`): the connection is added to it, and the rule goes on only while the
// list holds more than N connections.
struct Dynset {
    enum class Op : std::uint8_t { Add, Update };
    Op op = Op::Add;
    Register sreg_key = kReg1;
    std::string set_name;
    std::uint64_t timeout_ms = 0;  // 0: the element does not expire
    std::optional<std::uint32_t> connlimit_over;
    auto operator<=>(const Dynset&) const = default;
};

// A byte-rate token bucket (`limit rate over R bytes/second burst B bytes`): with `over`
// the rule goes on only for packets beyond the rate, which is how a cap drops them.
struct Limit {
    std::uint64_t bytes_per_second = 0;
    std::uint32_t burst_bytes = 0;
    bool over = true;
    auto operator<=>(const Limit&) const = default;
};

// NFLOG to a netlink group (`log prefix "..." group N`).
struct Log {
    std::string prefix;
    std::uint16_t group = 0;
    auto operator<=>(const Log&) const = default;
};

using Expr = std::variant<PayloadLoad, MetaLoad, MetaSet, CtLoad, RtLoad, Cmp, Bitwise, Lookup,
                          Hash, Immediate, Nat, Masquerade, Byteorder, Counter, Dynset, Log, Limit>;

// What a rule's counter means to natctld's metrics: connections refused at the gateway
// (port allocation errors, by reason) or steered to another EIP of their SNAT entry; or an
// EIP's traffic in one direction, passed or dropped by its bandwidth cap.
struct CounterRole {
    enum class Kind : std::uint8_t { Refused, Steered, EipPassed, EipCapped };
    Kind kind = Kind::Refused;
    std::string gateway;
    std::string entry;      // empty for refusals of an EIP's budget backstop (no entry known)
    std::string reason;     // refusals: kRefusalBudget / kRefusalInstanceLimit
    std::string eip;        // EipPassed / EipCapped: the EIP's name
    std::string direction;  // EipPassed / EipCapped: kDirectionInbound / kDirectionOutbound
    auto operator<=>(const CounterRole&) const = default;

    bool is_eip_traffic() const { return kind == Kind::EipPassed || kind == Kind::EipCapped; }
};
// What a role's counters add up to.
struct CounterTotal {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    auto operator<=>(const CounterTotal&) const = default;
};
inline constexpr const char* kDirectionInbound = "inbound";
inline constexpr const char* kDirectionOutbound = "outbound";

struct Rule {
    // nft syntax of the rule, as `nft list` prints it (without the comment). The digest of
    // this text is the rule's identity in the kernel (stored in the rule's user data).
    std::string text;
    std::vector<Expr> exprs;
    std::vector<Set> anonymous_sets;    // referenced by Lookup::anonymous_index
    std::string comment;                // shown by `nft list` after the rule
    std::string owner;                  // model path the rule serves, for error messages
    std::optional<CounterRole> counts;  // set on rules whose counter natctld exports
    bool operator==(const Rule&) const = default;
};

struct BaseChain {
    std::string type;  // "nat" | "filter"
    std::string hook;  // "prerouting" | "input" | "forward" | "output" | "postrouting"
    int priority = 0;
    bool policy_accept = true;
    bool operator==(const BaseChain&) const = default;
};

struct Chain {
    std::string name;
    std::optional<BaseChain> base;
    std::vector<Rule> rules;
    std::string comment;
    bool operator==(const Chain&) const = default;
};

struct Table {
    std::string name = kTableName;  // family ip
    std::vector<Set> sets;          // sorted by name
    std::vector<Chain> chains;      // base chains first, then regular chains, by name
    bool operator==(const Table&) const = default;
};

// ---- routing ------------------------------------------------------------------------------

struct Prefix {
    std::uint32_t address = 0;  // host byte order
    std::uint8_t length = 0;
    auto operator<=>(const Prefix&) const = default;
};

struct PolicyRule {
    std::uint32_t priority = kRulePriorityMin;
    std::optional<Prefix> from;
    std::optional<Prefix> to;
    std::string iif;
    std::optional<std::uint32_t> fwmark;
    std::optional<std::uint32_t> fwmask;
    std::uint32_t table = 0;  // RT_TABLE_MAIN (254) is allowed
    std::string owner;
    auto operator<=>(const PolicyRule&) const = default;
};

struct Route {
    enum class Type : std::uint8_t { Unicast, Blackhole, Unreachable };
    std::uint32_t table = 0;
    Prefix destination;
    Type type = Type::Unicast;
    std::optional<std::uint32_t> gateway;  // host byte order
    std::string dev;
    std::uint32_t realm = 0;  // RTA_FLOW; lets postrouting tell gateways apart
    std::uint32_t metric = 0;
    std::string owner;
    auto operator<=>(const Route&) const = default;
};

struct Address {
    std::uint32_t address = 0;  // host byte order
    std::uint8_t prefix_length = 32;
    std::string dev;
    std::string owner;
    auto operator<=>(const Address&) const = default;
};

// Everything natctl wants in the kernel. Every vector is sorted and free of duplicates, so
// that equal models compile to equal states and diffs are minimal.
struct DesiredState {
    Table table;
    std::vector<PolicyRule> rules;
    std::vector<Route> routes;
    std::vector<Address> addresses;
    bool operator==(const DesiredState&) const = default;
};

}  // namespace natctl::kernel
