#include "netlink/nflog_socket.hpp"

#include <arpa/inet.h>
#include <endian.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "netlink/mnl_receive.hpp"

namespace natctl::netlink {
namespace {

constexpr std::size_t kReceiveSize = 64 * 1024;
constexpr int kConfigTimeoutSeconds = 5;

ConntrackError system_error(const std::string& what, int error_number) {
    return ConntrackError{fmt::format("{}: {}", what, std::strerror(error_number)), error_number};
}

bool has_ports(std::uint8_t protocol) {
    return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE ||
           protocol == IPPROTO_SCTP || protocol == IPPROTO_DCCP;
}

std::uint16_t read16(const unsigned char* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t read32(const unsigned char* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
           p[3];
}

// Addresses, protocol and ports (ICMP type, code, id) of an IPv4 packet. false: not IPv4
// or shorter than its own header says.
bool decode_ipv4(const unsigned char* data, std::size_t length, NflogPacket& packet) {
    if (length < 20 || (data[0] >> 4) != 4) return false;
    const std::size_t header_length = std::size_t(data[0] & 0x0f) * 4;
    if (header_length < 20 || length < header_length) return false;
    packet.protocol = data[9];
    packet.tuple.src = read32(data + 12);
    packet.tuple.dst = read32(data + 16);
    const bool first_fragment = (read16(data + 6) & 0x1fff) == 0;
    const unsigned char* l4 = data + header_length;
    const std::size_t l4_length = length - header_length;
    if (!first_fragment) return true;
    if (has_ports(packet.protocol) && l4_length >= 4) {
        packet.tuple.sport = read16(l4);
        packet.tuple.dport = read16(l4 + 2);
    } else if (packet.protocol == IPPROTO_ICMP && l4_length >= 8) {
        packet.icmp = ConntrackIcmp{l4[0], l4[1], read16(l4 + 4)};
    }
    return true;
}

// mnl_attr_for_each is a C macro that does not compile as C++ (void* conversions).
template <class Visit>
void for_each_attribute(const nlmsghdr* header, std::size_t offset, Visit&& visit) {
    const void* start = mnl_nlmsg_get_payload_offset(header, offset);
    int remaining = static_cast<int>(static_cast<const char*>(mnl_nlmsg_get_payload_tail(header)) -
                                     static_cast<const char*>(start));
    const auto* attribute = static_cast<const nlattr*>(start);
    while (mnl_attr_ok(attribute, remaining)) {
        visit(attribute);
        remaining -= static_cast<int>(MNL_ALIGN(attribute->nla_len));
        attribute = mnl_attr_next(attribute);
    }
}

nlmsghdr* config_header(std::vector<char>& buffer, std::uint16_t group, std::uint32_t sequence) {
    auto* header = mnl_nlmsg_put_header(buffer.data());
    header->nlmsg_type = static_cast<std::uint16_t>((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG);
    header->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    header->nlmsg_seq = sequence;
    auto* generic = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(nfgenmsg)));
    generic->nfgen_family = AF_INET;
    generic->version = NFNETLINK_V0;
    generic->res_id = htons(group);
    return header;
}

struct ReadState {
    std::vector<NflogPacket>* out = nullptr;
};

int on_message(const nlmsghdr* header, void* data) {
    auto& state = *static_cast<ReadState*>(data);
    if (auto packet = decode_nflog_message(header)) state.out->push_back(std::move(*packet));
    return MNL_CB_OK;
}

}  // namespace

std::optional<NflogPacket> decode_nflog_message(const nlmsghdr* header) {
    if ((header->nlmsg_type >> 8) != NFNL_SUBSYS_ULOG ||
        (header->nlmsg_type & 0xff) != NFULNL_MSG_PACKET)
        return std::nullopt;
    if (header->nlmsg_len < mnl_nlmsg_size(sizeof(nfgenmsg))) return std::nullopt;
    const nlattr* prefix = nullptr;
    const nlattr* payload = nullptr;
    const nlattr* timestamp = nullptr;
    for_each_attribute(header, sizeof(nfgenmsg), [&](const nlattr* attribute) {
        switch (mnl_attr_get_type(attribute)) {
            case NFULA_PREFIX:
                prefix = attribute;
                break;
            case NFULA_PAYLOAD:
                payload = attribute;
                break;
            case NFULA_TIMESTAMP:
                timestamp = attribute;
                break;
            default:
                break;
        }
    });
    if (!payload) return std::nullopt;
    NflogPacket packet;
    if (!decode_ipv4(static_cast<const unsigned char*>(mnl_attr_get_payload(payload)),
                     mnl_attr_get_payload_len(payload), packet))
        return std::nullopt;
    if (prefix) {
        const auto* text = static_cast<const char*>(mnl_attr_get_payload(prefix));
        packet.prefix.assign(text, strnlen(text, mnl_attr_get_payload_len(prefix)));
    }
    if (timestamp && mnl_attr_get_payload_len(timestamp) >= sizeof(nfulnl_msg_packet_timestamp)) {
        nfulnl_msg_packet_timestamp stamp;
        std::memcpy(&stamp, mnl_attr_get_payload(timestamp), sizeof(stamp));
        packet.timestamp = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::seconds(be64toh(stamp.sec)) +
                std::chrono::microseconds(be64toh(stamp.usec))));
    }
    return packet;
}

NflogSocket::NflogSocket(MnlSocket socket)
    : socket_(std::move(socket)), receive_buffer_(kReceiveSize) {}

std::expected<NflogSocket, ConntrackError> NflogSocket::open(std::uint16_t group,
                                                             std::size_t receive_buffer) {
    MnlSocket socket(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
    if (!socket) return std::unexpected(system_error("opening an NFLOG socket", errno));
    if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0)
        return std::unexpected(system_error("binding the NFLOG socket", errno));
    const int fd = mnl_socket_get_fd(socket.get());
    set_receive_buffer(fd, receive_buffer);
    // The configuration is answered at once; a lost answer fails open() instead of hanging.
    timeval timeout{kConfigTimeoutSeconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));

    const std::uint32_t port_id = mnl_socket_get_portid(socket.get());
    std::vector<char> request(MNL_SOCKET_BUFFER_SIZE, 0);
    std::vector<char> answer(MNL_SOCKET_BUFFER_SIZE, 0);
    auto configure = [&](std::uint32_t sequence, auto&& put,
                         const char* what) -> std::expected<void, ConntrackError> {
        std::fill(request.begin(), request.end(), 0);
        auto* header = config_header(request, group, sequence);
        put(header);
        if (mnl_socket_sendto(socket.get(), header, header->nlmsg_len) < 0)
            return std::unexpected(system_error(what, errno));
        const ssize_t received = mnl_socket_recvfrom(socket.get(), answer.data(), answer.size());
        if (received < 0) return std::unexpected(system_error(what, errno));
        if (mnl_cb_run(answer.data(), static_cast<std::size_t>(received), sequence, port_id,
                       nullptr, nullptr) < 0)
            return std::unexpected(system_error(what, errno));
        return {};
    };
    auto bound = configure(
        1,
        [](nlmsghdr* header) {
            nfulnl_msg_config_cmd command{NFULNL_CFG_CMD_BIND};
            mnl_attr_put(header, NFULA_CFG_CMD, sizeof(command), &command);
        },
        "binding NFLOG group");
    if (!bound) {
        bound.error().message = fmt::format("group {}: {}", group, bound.error().message);
        return std::unexpected(bound.error());
    }
    auto mode = configure(
        2,
        [](nlmsghdr* header) {
            nfulnl_msg_config_mode copy{};
            copy.copy_range = htonl(kCopyBytes);
            copy.copy_mode = NFULNL_COPY_PACKET;
            mnl_attr_put(header, NFULA_CFG_MODE, sizeof(copy), &copy);
        },
        "setting the NFLOG copy mode");
    if (!mode) return std::unexpected(mode.error());
    // Reads are driven by poll from here on.
    timeval none{0, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
    if (int flags = ::fcntl(fd, F_GETFL); flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return std::unexpected(system_error("making the NFLOG socket non-blocking", errno));
    return NflogSocket(std::move(socket));
}

int NflogSocket::fd() const {
    return mnl_socket_get_fd(socket_.get());
}

std::expected<NflogBatch, ConntrackError> NflogSocket::read(std::size_t max_messages) {
    NflogBatch batch;
    ReadState state{&batch.packets};
    auto received = receive_messages(socket_.get(), receive_buffer_, max_messages, on_message,
                                     &state, "NFLOG packets");
    if (!received) return std::unexpected(received.error());
    batch.drained = received->drained;
    batch.overflow = received->overflow;
    return batch;
}

}  // namespace natctl::netlink
