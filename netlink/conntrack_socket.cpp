#include "netlink/conntrack_socket.hpp"

#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "netlink/mnl_receive.hpp"

namespace natctl::netlink {
namespace {

// Answers to deletions and to the stats request; dumps bring their own buffers
// (receive_dump).
constexpr std::size_t kReceiveSize = 64 * 1024;
constexpr std::size_t kRequestSize = 4096;
constexpr int kReceiveTimeoutSeconds = 5;  // a lost answer fails the call instead of hanging

struct ConntrackDeleter {
    void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};
using ConntrackObject = std::unique_ptr<nf_conntrack, ConntrackDeleter>;

ConntrackError system_error(const std::string& what, int error_number) {
    return ConntrackError{fmt::format("{}: {}", what, std::strerror(error_number)), error_number};
}

// Protocols whose tuple carries ports (the kernel's l4proto trackers with a port pair).
bool has_ports(std::uint8_t protocol) {
    return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE ||
           protocol == IPPROTO_SCTP || protocol == IPPROTO_DCCP;
}

nlmsghdr* put_header(std::vector<char>& buffer, std::uint8_t type, std::uint16_t flags,
                     std::uint32_t sequence) {
    auto* header = mnl_nlmsg_put_header(buffer.data());
    header->nlmsg_type = static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | type);
    header->nlmsg_flags = flags;
    header->nlmsg_seq = sequence;
    auto* generic = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(nfgenmsg)));
    generic->nfgen_family = AF_INET;
    generic->version = NFNETLINK_V0;
    generic->res_id = 0;
    return header;
}

// Hand-parsed rather than through libnetfilter_conntrack objects: a dump of 200k entries
// otherwise spends a quarter of its time allocating, filling and querying one nf_conntrack
// per entry (KERNEL-NOTES: 0.79 s against 0.61 s). The attribute accessors are inline
// equivalents of libmnl's (mnl_attr_ok, _next, _get_type, _get_payload*): as calls into
// the shared library they were dozens per entry and over half of the parsing profile.
// (mnl_attr_for_each* are C macros that do not compile as C++: void* conversions.)
const void* payload_of(const nlattr* attribute) {
    return reinterpret_cast<const char*>(attribute) + NLA_HDRLEN;
}
std::size_t payload_length(const nlattr* attribute) {
    return attribute->nla_len - NLA_HDRLEN;
}
std::uint16_t type_of(const nlattr* attribute) {
    return static_cast<std::uint16_t>(attribute->nla_type & NLA_TYPE_MASK);
}

template <class Visit>
void for_each_attribute(const void* start, std::size_t length, Visit&& visit) {
    const char* at = static_cast<const char*>(start);
    const char* const end = at + length;
    // at < end first: an attribute whose aligned length runs past the nest's end leaves
    // `at` behind `end`, and end - at would then wrap to a huge size_t.
    while (at < end && static_cast<std::size_t>(end - at) >= sizeof(nlattr)) {
        const auto* attribute = reinterpret_cast<const nlattr*>(at);
        if (attribute->nla_len < sizeof(nlattr) ||
            attribute->nla_len > static_cast<std::size_t>(end - at))
            break;  // malformed: stop as mnl_attr_ok does
        visit(attribute);
        at += NLA_ALIGN(attribute->nla_len);
    }
}

// Fills table[type] for every attribute nested in `parent` that fits the table.
template <std::size_t N>
void index_nested(const nlattr* parent, const nlattr* (&table)[N]) {
    for_each_attribute(payload_of(parent), payload_length(parent), [&](const nlattr* attribute) {
        const auto type = type_of(attribute);
        if (type < N) table[type] = attribute;
    });
}

// The payload as a T when it is large enough, else 0 (memcpy: attributes are only 4-byte
// aligned).
template <class T>
T payload_as(const nlattr* attribute) {
    T value = 0;
    if (attribute && payload_length(attribute) >= sizeof(T))
        std::memcpy(&value, payload_of(attribute), sizeof(T));
    return value;
}
std::uint32_t be32(const nlattr* attribute) {
    return ntohl(payload_as<std::uint32_t>(attribute));
}
std::uint16_t be16(const nlattr* attribute) {
    return ntohs(payload_as<std::uint16_t>(attribute));
}
std::uint8_t u8(const nlattr* attribute) {
    return payload_as<std::uint8_t>(attribute);
}
std::uint64_t be64(const nlattr* attribute) {
    return be64toh(payload_as<std::uint64_t>(attribute));
}

// A CTA_TUPLE_* nest: addresses, ports or ICMP fields. false: not IPv4.
bool decode_tuple(const nlattr* nest, std::uint8_t& protocol, ConntrackTuple& tuple,
                  std::optional<ConntrackIcmp>* icmp) {
    const nlattr* parts[CTA_TUPLE_MAX + 1] = {};
    index_nested(nest, parts);
    if (!parts[CTA_TUPLE_IP] || !parts[CTA_TUPLE_PROTO]) return false;
    const nlattr* ip[CTA_IP_MAX + 1] = {};
    index_nested(parts[CTA_TUPLE_IP], ip);
    if (!ip[CTA_IP_V4_SRC] || !ip[CTA_IP_V4_DST]) return false;
    tuple.src = be32(ip[CTA_IP_V4_SRC]);
    tuple.dst = be32(ip[CTA_IP_V4_DST]);
    const nlattr* proto[CTA_PROTO_MAX + 1] = {};
    index_nested(parts[CTA_TUPLE_PROTO], proto);
    protocol = u8(proto[CTA_PROTO_NUM]);
    if (has_ports(protocol)) {
        tuple.sport = be16(proto[CTA_PROTO_SRC_PORT]);
        tuple.dport = be16(proto[CTA_PROTO_DST_PORT]);
    } else if (protocol == IPPROTO_ICMP && icmp) {
        *icmp = ConntrackIcmp{u8(proto[CTA_PROTO_ICMP_TYPE]), u8(proto[CTA_PROTO_ICMP_CODE]),
                              be16(proto[CTA_PROTO_ICMP_ID])};
    }
    return true;
}

std::optional<ConntrackCounters> decode_counters(const nlattr* original, const nlattr* reply) {
    if (!original && !reply) return std::nullopt;
    auto read = [](const nlattr* nest, std::uint64_t& packets, std::uint64_t& bytes) {
        if (!nest) return;
        const nlattr* parts[CTA_COUNTERS_MAX + 1] = {};
        index_nested(nest, parts);
        packets = be64(parts[CTA_COUNTERS_PACKETS]);
        bytes = be64(parts[CTA_COUNTERS_BYTES]);
    };
    ConntrackCounters counters;
    read(original, counters.original_packets, counters.original_bytes);
    read(reply, counters.reply_packets, counters.reply_bytes);
    return counters;
}

struct StreamState {
    const ConntrackEntryVisitor* visit = nullptr;
    std::size_t passed = 0;
};

int on_dump_message(const nlmsghdr* header, void* data) {
    auto& state = *static_cast<StreamState*>(data);
    if (auto entry = decode_conntrack_message(header, nullptr);
        entry && (entry->src_nat() || entry->dst_nat())) {
        (*state.visit)(*entry);
        ++state.passed;
    }
    return MNL_CB_OK;
}

// CTA_STATS_GLOBAL_ENTRIES of an IPCTNL_MSG_CT_GET_STATS answer.
int on_stats_message(const nlmsghdr* header, void* data) {
    if (header->nlmsg_len < mnl_nlmsg_size(sizeof(nfgenmsg))) return MNL_CB_OK;
    const void* start = mnl_nlmsg_get_payload_offset(header, sizeof(nfgenmsg));
    const auto length =
        static_cast<std::size_t>(static_cast<const char*>(mnl_nlmsg_get_payload_tail(header)) -
                                 static_cast<const char*>(start));
    for_each_attribute(start, length, [&](const nlattr* attribute) {
        if (type_of(attribute) == CTA_STATS_GLOBAL_ENTRIES)
            *static_cast<std::size_t*>(data) = be32(attribute);
    });
    return MNL_CB_OK;
}

// The built request names the entry by its original tuple: a deletion without a tuple
// makes the kernel delete every entry of the namespace.
bool carries_original_tuple(const nlmsghdr* header) {
    bool found = false;
    mnl_attr_parse(
        header, sizeof(nfgenmsg),
        [](const nlattr* attribute, void* data) {
            if (mnl_attr_get_type(attribute) == CTA_TUPLE_ORIG) *static_cast<bool*>(data) = true;
            return MNL_CB_OK;
        },
        &found);
    return found;
}

}  // namespace

ConntrackSocket::ConntrackSocket(MnlSocket socket)
    : socket_(std::move(socket)),
      port_id_(mnl_socket_get_portid(socket_.get())),
      receive_buffer_(kReceiveSize) {}

std::expected<ConntrackSocket, ConntrackError> ConntrackSocket::open(std::size_t receive_buffer) {
    MnlSocket socket(mnl_socket_open(NETLINK_NETFILTER));
    if (!socket) return std::unexpected(system_error("opening a conntrack socket", errno));
    if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0)
        return std::unexpected(system_error("binding the conntrack socket", errno));
    const int fd = mnl_socket_get_fd(socket.get());
    set_receive_buffer(fd, receive_buffer);
    timeval timeout{kReceiveTimeoutSeconds, 0};
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0)
        return std::unexpected(system_error("setting the conntrack socket's timeout", errno));
    return ConntrackSocket(std::move(socket));
}

std::expected<std::vector<ConntrackEntry>, ConntrackError> ConntrackSocket::dump_nat() {
    std::vector<ConntrackEntry> entries;
    auto streamed = stream_nat([&](const ConntrackEntry& entry) { entries.push_back(entry); });
    if (!streamed) return std::unexpected(streamed.error());
    return entries;
}

std::expected<std::size_t, ConntrackError> ConntrackSocket::stream_nat(
    const ConntrackEntryVisitor& visit) {
    std::vector<char> request(kRequestSize, 0);
    const std::uint32_t sequence = next_sequence_++;
    auto* header = put_header(request, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, sequence);
    if (mnl_socket_sendto(socket_.get(), header, header->nlmsg_len) < 0)
        return std::unexpected(system_error("requesting a conntrack dump", errno));
    StreamState state{&visit, 0};
    if (auto received = receive_dump(mnl_socket_get_fd(socket_.get()), sequence, port_id_,
                                     on_dump_message, &state, "the conntrack dump");
        !received)
        return std::unexpected(received.error());
    return state.passed;
}

std::size_t ConntrackSocket::table_size_hint() {
    std::vector<char> request(kRequestSize, 0);
    const std::uint32_t sequence = next_sequence_++;
    auto* header = put_header(request, IPCTNL_MSG_CT_GET_STATS, NLM_F_REQUEST, sequence);
    if (mnl_socket_sendto(socket_.get(), header, header->nlmsg_len) < 0) return 0;
    std::size_t entries = 0;
    while (true) {
        const ssize_t received =
            mnl_socket_recvfrom(socket_.get(), receive_buffer_.data(), receive_buffer_.size());
        if (received < 0) return 0;
        const int result = mnl_cb_run(receive_buffer_.data(), static_cast<std::size_t>(received),
                                      sequence, port_id_, on_stats_message, &entries);
        // One answer without NLM_F_MULTI: mnl_cb_run says OK, not STOP, once it is read.
        if (result == MNL_CB_OK || result == MNL_CB_STOP) return entries;
        // A stale answer of an earlier request has another sequence number: read on.
        if (errno != EPROTO && errno != ESRCH) return 0;
    }
}

std::expected<bool, ConntrackError> ConntrackSocket::remove(const ConntrackEntry& entry) {
    ConntrackObject ct(nfct_new());
    if (!ct) return std::unexpected(system_error("deleting a conntrack entry", ENOMEM));
    nfct_set_attr_u8(ct.get(), ATTR_L3PROTO, AF_INET);
    nfct_set_attr_u32(ct.get(), ATTR_IPV4_SRC, htonl(entry.original.src));
    nfct_set_attr_u32(ct.get(), ATTR_IPV4_DST, htonl(entry.original.dst));
    nfct_set_attr_u8(ct.get(), ATTR_L4PROTO, entry.protocol);
    if (has_ports(entry.protocol)) {
        nfct_set_attr_u16(ct.get(), ATTR_PORT_SRC, htons(entry.original.sport));
        nfct_set_attr_u16(ct.get(), ATTR_PORT_DST, htons(entry.original.dport));
    } else if (entry.protocol == IPPROTO_ICMP) {
        const ConntrackIcmp icmp = entry.icmp.value_or(ConntrackIcmp{});
        nfct_set_attr_u8(ct.get(), ATTR_ICMP_TYPE, icmp.type);
        nfct_set_attr_u8(ct.get(), ATTR_ICMP_CODE, icmp.code);
        nfct_set_attr_u16(ct.get(), ATTR_ICMP_ID, htons(icmp.id));
    }
    nfct_set_attr_u16(ct.get(), ATTR_ZONE, entry.zone);

    std::vector<char> request(kRequestSize, 0);
    const std::uint32_t sequence = next_sequence_++;
    auto* header = put_header(request, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, sequence);
    if (nfct_nlmsg_build(header, ct.get()) < 0)
        return std::unexpected(system_error("building a conntrack deletion", errno));
    if (entry.id) mnl_attr_put_u32(header, CTA_ID, htonl(*entry.id));
    if (!carries_original_tuple(header))
        return std::unexpected(ConntrackError{
            fmt::format("refusing to delete {}: the request would carry no tuple", describe(entry)),
            0});

    if (mnl_socket_sendto(socket_.get(), header, header->nlmsg_len) < 0)
        return std::unexpected(
            system_error(fmt::format("deleting conntrack entry {}", describe(entry)), errno));
    while (true) {
        const ssize_t received =
            mnl_socket_recvfrom(socket_.get(), receive_buffer_.data(), receive_buffer_.size());
        if (received < 0)
            return std::unexpected(system_error(
                fmt::format("deleting conntrack entry {} (no answer)", describe(entry)), errno));
        const int result = mnl_cb_run(receive_buffer_.data(), static_cast<std::size_t>(received),
                                      sequence, port_id_, nullptr, nullptr);
        if (result == MNL_CB_STOP) return true;  // the ACK
        if (result < 0) {
            // A stale answer of an earlier request (a timed-out one) has another sequence
            // number: keep reading for ours.
            if (errno == EPROTO || errno == ESRCH) continue;
            if (errno == ENOENT) return false;
            return std::unexpected(
                system_error(fmt::format("deleting conntrack entry {}", describe(entry)), errno));
        }
    }
}

}  // namespace natctl::netlink

namespace natctl::netlink {

std::optional<ConntrackEntry> decode_conntrack_message(const nlmsghdr* header,
                                                       std::optional<ConntrackCounters>* counters) {
    if (header->nlmsg_len < mnl_nlmsg_size(sizeof(nfgenmsg))) return std::nullopt;
    const auto* generic = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(header));
    if (generic->nfgen_family != AF_INET) return std::nullopt;
    const nlattr* top[CTA_MAX + 1] = {};
    const void* start = mnl_nlmsg_get_payload_offset(header, sizeof(nfgenmsg));
    const auto length =
        static_cast<std::size_t>(static_cast<const char*>(mnl_nlmsg_get_payload_tail(header)) -
                                 static_cast<const char*>(start));
    for_each_attribute(start, length, [&](const nlattr* attribute) {
        const auto type = type_of(attribute);
        if (type <= CTA_MAX) top[type] = attribute;
    });
    if (!top[CTA_TUPLE_ORIG] || !top[CTA_TUPLE_REPLY]) return std::nullopt;
    ConntrackEntry entry;
    std::uint8_t reply_protocol = 0;
    if (!decode_tuple(top[CTA_TUPLE_ORIG], entry.protocol, entry.original, &entry.icmp) ||
        !decode_tuple(top[CTA_TUPLE_REPLY], reply_protocol, entry.reply, nullptr))
        return std::nullopt;
    entry.status = be32(top[CTA_STATUS]);
    entry.zone = be16(top[CTA_ZONE]);
    entry.mark = be32(top[CTA_MARK]);
    if (top[CTA_ID]) entry.id = be32(top[CTA_ID]);
    if (counters) *counters = decode_counters(top[CTA_COUNTERS_ORIG], top[CTA_COUNTERS_REPLY]);
    return entry;
}

}  // namespace natctl::netlink
