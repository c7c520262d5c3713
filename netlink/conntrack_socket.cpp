#include "netlink/conntrack_socket.hpp"

#include <arpa/inet.h>
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

namespace natctl::netlink {
namespace {

constexpr std::size_t kReceiveSize = 64 * 1024;  // ctnetlink dump messages stay below this
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

std::optional<ConntrackEntry> decode(const nf_conntrack* ct) {
    if (!nfct_attr_is_set(ct, ATTR_L3PROTO) || nfct_get_attr_u8(ct, ATTR_L3PROTO) != AF_INET)
        return std::nullopt;
    ConntrackEntry entry;
    entry.protocol = nfct_get_attr_u8(ct, ATTR_L4PROTO);
    auto address = [&](nf_conntrack_attr attribute) -> std::uint32_t {
        return nfct_attr_is_set(ct, attribute) ? ntohl(nfct_get_attr_u32(ct, attribute)) : 0;
    };
    auto port = [&](nf_conntrack_attr attribute) -> std::uint16_t {
        return nfct_attr_is_set(ct, attribute) ? ntohs(nfct_get_attr_u16(ct, attribute)) : 0;
    };
    entry.original = {address(ATTR_ORIG_IPV4_SRC), address(ATTR_ORIG_IPV4_DST), 0, 0};
    entry.reply = {address(ATTR_REPL_IPV4_SRC), address(ATTR_REPL_IPV4_DST), 0, 0};
    if (has_ports(entry.protocol)) {
        entry.original.sport = port(ATTR_ORIG_PORT_SRC);
        entry.original.dport = port(ATTR_ORIG_PORT_DST);
        entry.reply.sport = port(ATTR_REPL_PORT_SRC);
        entry.reply.dport = port(ATTR_REPL_PORT_DST);
    } else if (entry.protocol == IPPROTO_ICMP) {
        entry.icmp = ConntrackIcmp{
            nfct_attr_is_set(ct, ATTR_ICMP_TYPE) ? nfct_get_attr_u8(ct, ATTR_ICMP_TYPE)
                                                 : std::uint8_t{0},
            nfct_attr_is_set(ct, ATTR_ICMP_CODE) ? nfct_get_attr_u8(ct, ATTR_ICMP_CODE)
                                                 : std::uint8_t{0},
            port(ATTR_ICMP_ID)};
    }
    if (nfct_attr_is_set(ct, ATTR_STATUS)) entry.status = nfct_get_attr_u32(ct, ATTR_STATUS);
    if (nfct_attr_is_set(ct, ATTR_ZONE)) entry.zone = nfct_get_attr_u16(ct, ATTR_ZONE);
    if (nfct_attr_is_set(ct, ATTR_MARK)) entry.mark = nfct_get_attr_u32(ct, ATTR_MARK);
    if (nfct_attr_is_set(ct, ATTR_ID)) entry.id = nfct_get_attr_u32(ct, ATTR_ID);
    return entry;
}

struct DumpState {
    std::vector<ConntrackEntry>* out = nullptr;
    int error_number = 0;
};

int on_dump_message(const nlmsghdr* header, void* data) {
    auto& state = *static_cast<DumpState*>(data);
    ConntrackObject ct(nfct_new());
    if (!ct) {
        state.error_number = ENOMEM;
        return MNL_CB_ERROR;
    }
    if (nfct_nlmsg_parse(header, ct.get()) < 0) return MNL_CB_OK;  // not an entry we can read
    if (auto entry = decode(ct.get()); entry && (entry->src_nat() || entry->dst_nat()))
        state.out->push_back(std::move(*entry));
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

void ConntrackSocket::SocketCloser::operator()(mnl_socket* socket) const {
    mnl_socket_close(socket);
}

ConntrackSocket::ConntrackSocket(std::unique_ptr<mnl_socket, SocketCloser> socket)
    : socket_(std::move(socket)),
      port_id_(mnl_socket_get_portid(socket_.get())),
      receive_buffer_(kReceiveSize) {}

std::expected<ConntrackSocket, ConntrackError> ConntrackSocket::open(std::size_t receive_buffer) {
    std::unique_ptr<mnl_socket, SocketCloser> socket(mnl_socket_open(NETLINK_NETFILTER));
    if (!socket) return std::unexpected(system_error("opening a conntrack socket", errno));
    if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0)
        return std::unexpected(system_error("binding the conntrack socket", errno));
    const int fd = mnl_socket_get_fd(socket.get());
    const int size = static_cast<int>(std::min<std::size_t>(receive_buffer, 1u << 30));
    // FORCE lifts the rmem_max cap (needs CAP_NET_ADMIN); otherwise take what the cap allows.
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    timeval timeout{kReceiveTimeoutSeconds, 0};
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0)
        return std::unexpected(system_error("setting the conntrack socket's timeout", errno));
    return ConntrackSocket(std::move(socket));
}

std::expected<std::vector<ConntrackEntry>, ConntrackError> ConntrackSocket::dump_nat() {
    std::vector<char> request(kRequestSize, 0);
    const std::uint32_t sequence = next_sequence_++;
    auto* header = put_header(request, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, sequence);
    if (mnl_socket_sendto(socket_.get(), header, header->nlmsg_len) < 0)
        return std::unexpected(system_error("requesting a conntrack dump", errno));

    std::vector<ConntrackEntry> entries;
    DumpState state{&entries, 0};
    while (true) {
        const ssize_t received =
            mnl_socket_recvfrom(socket_.get(), receive_buffer_.data(), receive_buffer_.size());
        if (received < 0) return std::unexpected(system_error("reading the conntrack dump", errno));
        const int result = mnl_cb_run(receive_buffer_.data(), static_cast<std::size_t>(received),
                                      sequence, port_id_, on_dump_message, &state);
        if (result == MNL_CB_STOP) break;
        if (result < 0) {
            const int error_number = state.error_number ? state.error_number : errno;
            return std::unexpected(system_error("reading the conntrack dump", error_number));
        }
    }
    return entries;
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

std::optional<ConntrackEntry> decode_conntrack_message(const nlmsghdr* header) {
    ConntrackObject ct(nfct_new());
    if (!ct) return std::nullopt;
    if (nfct_nlmsg_parse(header, ct.get()) < 0) return std::nullopt;
    return decode(ct.get());
}

}  // namespace natctl::netlink
