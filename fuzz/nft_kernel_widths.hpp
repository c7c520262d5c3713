// The attribute widths an nf_tables dump answer has when the kernel writes it, for the
// netlink_nft fuzz target's precondition.
//
// libnftnl (1.2.4, Debian 12) checks the width of every attribute it reads with
// mnl_attr_validate and, when one is wrong, prints "nf_tables kernel ABI is broken" and
// calls exit(): it treats such a message as proof that the kernel is not the one it was
// built for, not as input to refuse. natctld hands libnftnl only messages it received on its
// own NETLINK_NETFILTER socket, where only the kernel or a process holding CAP_NET_ADMIN
// can send, and the kernel writes each attribute with nla_put_be32/be64/string at the
// width below. So the fuzz target keeps to that contract, as it keeps to the socket's
// guarantee that a message fits in its datagram (netlink_messages.hpp): a message with an
// attribute of the wrong width is skipped, everything else — any values, any order, missing,
// repeated, unknown or truncated attributes, garbage after the last one — goes to libnftnl
// and natctl's decoders.
//
// The table follows libnftnl 1.2.4's parse callbacks (src/{set,set_elem,chain,rule,expr}.c,
// src/expr/*.c): which nests it descends into and which width it requires where. It is
// stricter than libnftnl only in checking every occurrence of a repeated attribute (libnftnl
// reads the last), which the kernel never repeats.
#pragma once

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>

namespace natctl::fuzz {

namespace nft_widths {

using Nest = bool (*)(const nlattr*);

// One attribute libnftnl checks: its type in the enclosing nest, the libmnl data type it
// validates it as, and how to check what is inside when libnftnl descends into it.
struct Attribute {
    std::uint16_t type;
    mnl_attr_data_type kind;
    Nest inside = nullptr;
};

using Policy = std::initializer_list<Attribute>;

inline bool valid(const nlattr* attr, Policy policy) {
    const std::uint16_t type = mnl_attr_get_type(attr);
    for (const auto& known : policy) {
        if (known.type != type) continue;
        // nla_put_string: the kernel's strings end in a NUL, which libnftnl's strdup and
        // strcmp rely on (its own check is only that a string is not empty).
        const auto kind = known.kind == MNL_TYPE_STRING ? MNL_TYPE_NUL_STRING : known.kind;
        if (mnl_attr_validate(attr, kind) < 0) return false;
        return known.inside == nullptr || known.inside(attr);
    }
    return true;
}

// Visits the attributes from `first` to `end` the way libmnl's parse walks them: up to the
// first one that does not fit; false as soon as `visit` is.
template <typename Visit>
bool all_attributes(const void* first, const void* end, Visit&& visit) {
    const auto* attr = static_cast<const nlattr*>(first);
    const auto left = [&] {
        return static_cast<int>(static_cast<const char*>(end) -
                                reinterpret_cast<const char*>(attr));
    };
    for (; mnl_attr_ok(attr, left()); attr = mnl_attr_next(attr))
        if (!visit(attr)) return false;
    return true;
}

template <typename Visit>
bool all_nested(const nlattr* nest, Visit&& visit) {
    const auto* payload = static_cast<const char*>(mnl_attr_get_payload(nest));
    return all_attributes(payload, payload + mnl_attr_get_payload_len(nest), visit);
}

inline bool nest_valid(const nlattr* nest, Policy policy) {
    return all_nested(nest, [policy](const nlattr* attr) { return valid(attr, policy); });
}

inline bool message_valid(const nlmsghdr* header, Policy policy) {
    return all_attributes(mnl_nlmsg_get_payload_offset(header, sizeof(nfgenmsg)),
                          mnl_nlmsg_get_payload_tail(header),
                          [policy](const nlattr* attr) { return valid(attr, policy); });
}

constexpr auto U8 = MNL_TYPE_U8;
constexpr auto U16 = MNL_TYPE_U16;
constexpr auto U32 = MNL_TYPE_U32;
constexpr auto U64 = MNL_TYPE_U64;
constexpr auto STRING = MNL_TYPE_STRING;
constexpr auto NUL_STRING = MNL_TYPE_NUL_STRING;
constexpr auto BINARY = MNL_TYPE_BINARY;
constexpr auto NESTED = MNL_TYPE_NESTED;

// The kernel writes a verdict's code, and the chain of a jump or goto, always
// (nft_verdict_dump). libnftnl 1.2.4 relies on it: nftnl_parse_verdict looks both up in a
// table it never initialises, so a verdict without them reads stack garbage as a pointer.
inline bool verdict(const nlattr* nest) {
    if (!nest_valid(
            nest,
            {{NFTA_VERDICT_CODE, U32}, {NFTA_VERDICT_CHAIN_ID, U32}, {NFTA_VERDICT_CHAIN, STRING}}))
        return false;
    const nlattr* code = nullptr;
    bool chain = false;
    all_nested(nest, [&](const nlattr* attr) {
        if (mnl_attr_get_type(attr) == NFTA_VERDICT_CODE) code = attr;
        if (mnl_attr_get_type(attr) == NFTA_VERDICT_CHAIN) chain = true;
        return true;
    });
    if (code == nullptr) return false;
    const auto value = static_cast<std::int32_t>(ntohl(mnl_attr_get_u32(code)));
    return chain || (value != NFT_JUMP && value != NFT_GOTO);
}

// A data register (nftnl_parse_data): the kernel writes a value or a verdict in it, always
// one of them (nft_data_dump). libnftnl 1.2.4 relies on that for an element's data: from a
// register with neither it reads back a type it never set (an uninitialised local in
// nftnl_set_elems_parse2), which can flag a jump target that is a null pointer.
inline bool data(const nlattr* nest) {
    if (!nest_valid(nest, {{NFTA_DATA_VALUE, BINARY}, {NFTA_DATA_VERDICT, NESTED, verdict}}))
        return false;
    return !all_nested(nest, [](const nlattr* attr) {
        const auto type = mnl_attr_get_type(attr);
        return type != NFTA_DATA_VALUE && type != NFTA_DATA_VERDICT;
    });
}

bool expression(const nlattr* nest);

inline bool expressions(const nlattr* nest) {
    return all_nested(nest, expression);
}

// NFTA_EXPR_DATA of the expression called `name`: libnftnl's ops for that name.
inline bool expression_data(const char* name, const nlattr* nest) {
    const auto is = [name](const char* candidate) { return std::strcmp(name, candidate) == 0; };
    if (is("bitwise"))
        return nest_valid(nest, {{NFTA_BITWISE_SREG, U32},
                                 {NFTA_BITWISE_DREG, U32},
                                 {NFTA_BITWISE_OP, U32},
                                 {NFTA_BITWISE_LEN, U32},
                                 {NFTA_BITWISE_MASK, BINARY, data},
                                 {NFTA_BITWISE_XOR, BINARY, data},
                                 {NFTA_BITWISE_DATA, BINARY, data}});
    if (is("byteorder"))
        return nest_valid(nest, {{NFTA_BYTEORDER_SREG, U32},
                                 {NFTA_BYTEORDER_DREG, U32},
                                 {NFTA_BYTEORDER_OP, U32},
                                 {NFTA_BYTEORDER_LEN, U32},
                                 {NFTA_BYTEORDER_SIZE, U32}});
    if (is("cmp"))
        return nest_valid(
            nest, {{NFTA_CMP_SREG, U32}, {NFTA_CMP_OP, U32}, {NFTA_CMP_DATA, BINARY, data}});
    if (is("connlimit"))
        return nest_valid(nest, {{NFTA_CONNLIMIT_COUNT, U32}, {NFTA_CONNLIMIT_FLAGS, U32}});
    if (is("counter"))
        return nest_valid(nest, {{NFTA_COUNTER_BYTES, U64}, {NFTA_COUNTER_PACKETS, U64}});
    if (is("ct"))
        return nest_valid(nest, {{NFTA_CT_KEY, U32},
                                 {NFTA_CT_DREG, U32},
                                 {NFTA_CT_SREG, U32},
                                 {NFTA_CT_DIRECTION, U8}});
    if (is("dup")) return nest_valid(nest, {{NFTA_DUP_SREG_ADDR, U32}, {NFTA_DUP_SREG_DEV, U32}});
    if (is("dynset"))
        return nest_valid(nest, {{NFTA_DYNSET_SREG_KEY, U32},
                                 {NFTA_DYNSET_SREG_DATA, U32},
                                 {NFTA_DYNSET_SET_ID, U32},
                                 {NFTA_DYNSET_OP, U32},
                                 {NFTA_DYNSET_FLAGS, U32},
                                 {NFTA_DYNSET_TIMEOUT, U64},
                                 {NFTA_DYNSET_SET_NAME, STRING},
                                 {NFTA_DYNSET_EXPR, NESTED, expression},
                                 {NFTA_DYNSET_EXPRESSIONS, MNL_TYPE_UNSPEC, expressions}});
    if (is("exthdr"))
        return nest_valid(nest, {{NFTA_EXTHDR_TYPE, U8},
                                 {NFTA_EXTHDR_DREG, U32},
                                 {NFTA_EXTHDR_SREG, U32},
                                 {NFTA_EXTHDR_OFFSET, U32},
                                 {NFTA_EXTHDR_LEN, U32},
                                 {NFTA_EXTHDR_OP, U32},
                                 {NFTA_EXTHDR_FLAGS, U32}});
    if (is("fib"))
        return nest_valid(nest,
                          {{NFTA_FIB_RESULT, U32}, {NFTA_FIB_DREG, U32}, {NFTA_FIB_FLAGS, U32}});
    if (is("flow_offload")) return nest_valid(nest, {{NFTA_FLOW_TABLE_NAME, STRING}});
    if (is("fwd"))
        return nest_valid(
            nest, {{NFTA_FWD_SREG_DEV, U32}, {NFTA_FWD_SREG_ADDR, U32}, {NFTA_FWD_NFPROTO, U32}});
    if (is("hash"))
        return nest_valid(nest, {{NFTA_HASH_SREG, U32},
                                 {NFTA_HASH_DREG, U32},
                                 {NFTA_HASH_LEN, U32},
                                 {NFTA_HASH_MODULUS, U32},
                                 {NFTA_HASH_SEED, U32},
                                 {NFTA_HASH_OFFSET, U32},
                                 {NFTA_HASH_TYPE, U32}});
    if (is("immediate"))
        return nest_valid(nest, {{NFTA_IMMEDIATE_DREG, U32}, {NFTA_IMMEDIATE_DATA, BINARY, data}});
    if (is("last")) return nest_valid(nest, {{NFTA_LAST_MSECS, U64}, {NFTA_LAST_SET, U32}});
    if (is("limit"))
        return nest_valid(nest, {{NFTA_LIMIT_RATE, U64},
                                 {NFTA_LIMIT_UNIT, U64},
                                 {NFTA_LIMIT_BURST, U32},
                                 {NFTA_LIMIT_TYPE, U32},
                                 {NFTA_LIMIT_FLAGS, U32}});
    if (is("log"))
        return nest_valid(nest, {{NFTA_LOG_PREFIX, STRING},
                                 {NFTA_LOG_GROUP, U16},
                                 {NFTA_LOG_QTHRESHOLD, U16},
                                 {NFTA_LOG_SNAPLEN, U32},
                                 {NFTA_LOG_LEVEL, U32},
                                 {NFTA_LOG_FLAGS, U32}});
    if (is("lookup"))
        return nest_valid(nest, {{NFTA_LOOKUP_SREG, U32},
                                 {NFTA_LOOKUP_DREG, U32},
                                 {NFTA_LOOKUP_SET_ID, U32},
                                 {NFTA_LOOKUP_FLAGS, U32},
                                 {NFTA_LOOKUP_SET, STRING}});
    if (is("masq"))
        return nest_valid(nest, {{NFTA_MASQ_REG_PROTO_MIN, U32},
                                 {NFTA_MASQ_REG_PROTO_MAX, U32},
                                 {NFTA_MASQ_FLAGS, U32}});
    if (is("match"))
        return nest_valid(
            nest,
            {{NFTA_MATCH_NAME, NUL_STRING}, {NFTA_MATCH_REV, U32}, {NFTA_MATCH_INFO, BINARY}});
    if (is("meta"))
        return nest_valid(nest,
                          {{NFTA_META_KEY, U32}, {NFTA_META_DREG, U32}, {NFTA_META_SREG, U32}});
    if (is("nat"))
        return nest_valid(nest, {{NFTA_NAT_TYPE, U32},
                                 {NFTA_NAT_FAMILY, U32},
                                 {NFTA_NAT_REG_ADDR_MIN, U32},
                                 {NFTA_NAT_REG_ADDR_MAX, U32},
                                 {NFTA_NAT_REG_PROTO_MIN, U32},
                                 {NFTA_NAT_REG_PROTO_MAX, U32},
                                 {NFTA_NAT_FLAGS, U32}});
    if (is("numgen"))
        return nest_valid(nest, {{NFTA_NG_DREG, U32},
                                 {NFTA_NG_MODULUS, U32},
                                 {NFTA_NG_TYPE, U32},
                                 {NFTA_NG_OFFSET, U32}});
    if (is("objref"))
        return nest_valid(nest, {{NFTA_OBJREF_IMM_TYPE, U32},
                                 {NFTA_OBJREF_IMM_NAME, STRING},
                                 {NFTA_OBJREF_SET_NAME, STRING},
                                 {NFTA_OBJREF_SET_SREG, U32},
                                 {NFTA_OBJREF_SET_ID, U32}});
    // libnftnl's osf and synproxy callbacks switch on its own NFTNL_EXPR_* numbering.
    if (is("osf"))
        return nest_valid(
            nest,
            {{NFTNL_EXPR_OSF_DREG, U32}, {NFTNL_EXPR_OSF_FLAGS, U32}, {NFTNL_EXPR_OSF_TTL, U8}});
    if (is("payload"))
        return nest_valid(nest, {{NFTA_PAYLOAD_SREG, U32},
                                 {NFTA_PAYLOAD_DREG, U32},
                                 {NFTA_PAYLOAD_BASE, U32},
                                 {NFTA_PAYLOAD_OFFSET, U32},
                                 {NFTA_PAYLOAD_LEN, U32},
                                 {NFTA_PAYLOAD_CSUM_TYPE, U32},
                                 {NFTA_PAYLOAD_CSUM_OFFSET, U32},
                                 {NFTA_PAYLOAD_CSUM_FLAGS, U32}});
    if (is("queue"))
        return nest_valid(nest, {{NFTA_QUEUE_NUM, U16},
                                 {NFTA_QUEUE_TOTAL, U16},
                                 {NFTA_QUEUE_FLAGS, U16},
                                 {NFTA_QUEUE_SREG_QNUM, U32}});
    if (is("quota"))
        return nest_valid(
            nest, {{NFTA_QUOTA_BYTES, U64}, {NFTA_QUOTA_CONSUMED, U64}, {NFTA_QUOTA_FLAGS, U32}});
    if (is("range"))
        return nest_valid(nest, {{NFTA_RANGE_SREG, U32},
                                 {NFTA_RANGE_OP, U32},
                                 {NFTA_RANGE_FROM_DATA, BINARY, data},
                                 {NFTA_RANGE_TO_DATA, BINARY, data}});
    if (is("redir"))
        return nest_valid(nest, {{NFTA_REDIR_REG_PROTO_MIN, U32},
                                 {NFTA_REDIR_REG_PROTO_MAX, U32},
                                 {NFTA_REDIR_FLAGS, U32}});
    if (is("reject"))
        return nest_valid(nest, {{NFTA_REJECT_TYPE, U32}, {NFTA_REJECT_ICMP_CODE, U8}});
    if (is("rt")) return nest_valid(nest, {{NFTA_RT_KEY, U32}, {NFTA_RT_DREG, U32}});
    if (is("socket"))
        return nest_valid(
            nest, {{NFTA_SOCKET_KEY, U32}, {NFTA_SOCKET_DREG, U32}, {NFTA_SOCKET_LEVEL, U32}});
    if (is("synproxy"))
        return nest_valid(nest, {{NFTNL_EXPR_SYNPROXY_MSS, U16},
                                 {NFTNL_EXPR_SYNPROXY_WSCALE, U8},
                                 {NFTNL_EXPR_SYNPROXY_FLAGS, U32}});
    if (is("target"))
        return nest_valid(
            nest,
            {{NFTA_TARGET_NAME, NUL_STRING}, {NFTA_TARGET_REV, U32}, {NFTA_TARGET_INFO, BINARY}});
    if (is("tproxy"))
        return nest_valid(
            nest,
            {{NFTA_TPROXY_FAMILY, U32}, {NFTA_TPROXY_REG_ADDR, U32}, {NFTA_TPROXY_REG_PORT, U32}});
    if (is("tunnel")) return nest_valid(nest, {{NFTA_TUNNEL_KEY, U32}, {NFTA_TUNNEL_DREG, U32}});
    if (is("xfrm"))
        return nest_valid(nest, {{NFTA_XFRM_DREG, U32},
                                 {NFTA_XFRM_KEY, U32},
                                 {NFTA_XFRM_SPNUM, U32},
                                 {NFTA_XFRM_DIR, U8}});
    return true;  // notrack has no attributes; libnftnl refuses names it does not know
}

// One expression (nftnl_expr_parse): its name picks how NFTA_EXPR_DATA is read. The kernel
// always writes the name (nf_tables_fill_expr_info); libnftnl looks it up without checking
// that it is there.
inline bool expression(const nlattr* nest) {
    if (!nest_valid(nest, {{NFTA_EXPR_NAME, STRING}, {NFTA_EXPR_DATA, NESTED}})) return false;
    const char* name = nullptr;
    all_nested(nest, [&name](const nlattr* attr) {
        if (mnl_attr_get_type(attr) == NFTA_EXPR_NAME) name = mnl_attr_get_str(attr);
        return true;
    });
    if (name == nullptr) return false;
    return all_nested(nest, [name](const nlattr* attr) {
        return mnl_attr_get_type(attr) != NFTA_EXPR_DATA || expression_data(name, attr);
    });
}

inline bool counters(const nlattr* nest) {
    return nest_valid(nest, {{NFTA_COUNTER_BYTES, U64}, {NFTA_COUNTER_PACKETS, U64}});
}

inline bool hook(const nlattr* nest) {
    return nest_valid(
        nest, {{NFTA_HOOK_HOOKNUM, U32}, {NFTA_HOOK_PRIORITY, U32}, {NFTA_HOOK_DEV, STRING}});
}

inline bool rule_compat(const nlattr* nest) {
    return nest_valid(nest, {{NFTA_RULE_COMPAT_PROTO, U32}, {NFTA_RULE_COMPAT_FLAGS, U32}});
}

// A concatenation's field lengths: the kernel describes at most NFT_REG32_COUNT fields, and
// libnftnl stores them in an array of that size without checking the count.
inline bool set_desc(const nlattr* nest) {
    int fields = 0;
    const auto field = [&fields](const nlattr* attr) {
        if (mnl_attr_get_type(attr) != NFTA_SET_FIELD_LEN) return true;
        return mnl_attr_validate(attr, U32) >= 0 && ++fields <= NFT_REG32_COUNT;
    };
    const auto concat = [&field](const nlattr* list) {
        return all_nested(list, [&field](const nlattr* element) {
            return mnl_attr_get_type(element) != NFTA_LIST_ELEM || all_nested(element, field);
        });
    };
    return all_nested(nest, [&concat](const nlattr* attr) {
        const auto type = mnl_attr_get_type(attr);
        if (type == NFTA_SET_DESC_SIZE) return mnl_attr_validate(attr, U32) >= 0;
        return type != NFTA_SET_DESC_CONCAT || concat(attr);
    });
}

// An element's attributes are NFTA_SET_ELEM_* (up to NFTA_SET_ELEM_MAX in the ABI of
// Debian 12's kernel and libnftnl). libnftnl 1.2.4 files them in a table of that size but
// bounds the type by NFTA_SET_MAX, so a higher type writes past the table on its stack.
inline bool element_types_known(const nlattr* nest) {
    return all_nested(
        nest, [](const nlattr* attr) { return mnl_attr_get_type(attr) <= NFTA_SET_ELEM_MAX; });
}

inline bool element(const nlattr* nest) {
    return element_types_known(nest) &&
           nest_valid(nest, {{NFTA_SET_ELEM_FLAGS, U32},
                             {NFTA_SET_ELEM_TIMEOUT, U64},
                             {NFTA_SET_ELEM_EXPIRATION, U64},
                             {NFTA_SET_ELEM_KEY, NESTED, data},
                             {NFTA_SET_ELEM_KEY_END, NESTED, data},
                             {NFTA_SET_ELEM_DATA, NESTED, data},
                             {NFTA_SET_ELEM_EXPR, NESTED, expression},
                             {NFTA_SET_ELEM_EXPRESSIONS, NESTED, expressions},
                             {NFTA_SET_ELEM_USERDATA, BINARY}});
}

inline bool elements(const nlattr* nest) {
    return all_nested(nest, element);
}

}  // namespace nft_widths

// Whether every attribute of an nf_tables message (NEWSET, NEWSETELEM, NEWCHAIN, NEWRULE)
// has the width the kernel writes it with; other messages are not checked.
inline bool has_kernel_attribute_widths(const nlmsghdr* header) {
    using namespace nft_widths;
    switch (header->nlmsg_type & 0xff) {
        case NFT_MSG_NEWSET:
            return message_valid(header, {{NFTA_SET_TABLE, STRING},
                                          {NFTA_SET_NAME, STRING},
                                          {NFTA_SET_HANDLE, U64},
                                          {NFTA_SET_FLAGS, U32},
                                          {NFTA_SET_KEY_TYPE, U32},
                                          {NFTA_SET_KEY_LEN, U32},
                                          {NFTA_SET_DATA_TYPE, U32},
                                          {NFTA_SET_DATA_LEN, U32},
                                          {NFTA_SET_ID, U32},
                                          {NFTA_SET_POLICY, U32},
                                          {NFTA_SET_GC_INTERVAL, U32},
                                          {NFTA_SET_USERDATA, BINARY},
                                          {NFTA_SET_TIMEOUT, U64},
                                          {NFTA_SET_DESC, NESTED, set_desc},
                                          {NFTA_SET_EXPR, NESTED, expression},
                                          {NFTA_SET_EXPRESSIONS, NESTED, expressions}});
        case NFT_MSG_NEWSETELEM:
            return message_valid(header, {{NFTA_SET_ELEM_LIST_TABLE, STRING},
                                          {NFTA_SET_ELEM_LIST_SET, STRING},
                                          {NFTA_SET_ELEM_LIST_ELEMENTS, NESTED, elements}});
        case NFT_MSG_NEWCHAIN:
            return message_valid(header, {{NFTA_CHAIN_NAME, STRING},
                                          {NFTA_CHAIN_TABLE, STRING},
                                          {NFTA_CHAIN_TYPE, STRING},
                                          {NFTA_CHAIN_HOOK, NESTED, hook},
                                          {NFTA_CHAIN_COUNTERS, NESTED, counters},
                                          {NFTA_CHAIN_POLICY, U32},
                                          {NFTA_CHAIN_USE, U32},
                                          {NFTA_CHAIN_FLAGS, U32},
                                          {NFTA_CHAIN_ID, U32},
                                          {NFTA_CHAIN_HANDLE, U64},
                                          {NFTA_CHAIN_USERDATA, BINARY}});
        case NFT_MSG_NEWRULE:
            return message_valid(header, {{NFTA_RULE_TABLE, STRING},
                                          {NFTA_RULE_CHAIN, STRING},
                                          {NFTA_RULE_HANDLE, U64},
                                          {NFTA_RULE_COMPAT, NESTED, rule_compat},
                                          {NFTA_RULE_POSITION, U64},
                                          {NFTA_RULE_USERDATA, BINARY},
                                          {NFTA_RULE_ID, U32},
                                          {NFTA_RULE_POSITION_ID, U32},
                                          {NFTA_RULE_EXPRESSIONS, MNL_TYPE_UNSPEC, expressions}});
        default:
            return true;
    }
}

}  // namespace natctl::fuzz
