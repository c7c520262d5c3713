#include "netlink/nft_probe.hpp"
#include "netlink/nlmsg_fits.hpp"

#include <libmnl/libmnl.h>
#include <libnftnl/flowtable.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <fmt/format.h>

namespace natctl::netlink {
namespace {

struct MnlSocketClose {
    void operator()(mnl_socket* socket) const { mnl_socket_close(socket); }
};
struct TableFree {
    void operator()(nftnl_table* table) const { nftnl_table_free(table); }
};
struct FlowtableFree {
    void operator()(nftnl_flowtable* flowtable) const { nftnl_flowtable_free(flowtable); }
};

constexpr const char* kProbeTable = "natctl_probe";

// The errno the kernel answered for the flowtable message, 0 if it accepted it, or an
// errno of our own (negative) when the probe itself could not run.
int probe_flowtable() {
    std::unique_ptr<mnl_socket, MnlSocketClose> socket(mnl_socket_open(NETLINK_NETFILTER));
    if (!socket || mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) return -errno;

    std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
    mnl_nlmsg_batch* batch = mnl_nlmsg_batch_start(buffer.data(), buffer.size());
    std::uint32_t sequence = 1;
    nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(batch)), sequence++);
    mnl_nlmsg_batch_next(batch);

    std::unique_ptr<nftnl_table, TableFree> table(nftnl_table_alloc());
    nftnl_table_set_str(table.get(), NFTNL_TABLE_NAME, kProbeTable);
    auto* header =
        nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(batch)), NFT_MSG_NEWTABLE,
                              NFPROTO_IPV4, NLM_F_CREATE | NLM_F_ACK, sequence++);
    nftnl_table_nlmsg_build_payload(header, table.get());
    mnl_nlmsg_batch_next(batch);

    std::unique_ptr<nftnl_flowtable, FlowtableFree> flowtable(nftnl_flowtable_alloc());
    nftnl_flowtable_set_str(flowtable.get(), NFTNL_FLOWTABLE_TABLE, kProbeTable);
    nftnl_flowtable_set_str(flowtable.get(), NFTNL_FLOWTABLE_NAME, "probe");
    nftnl_flowtable_set_u32(flowtable.get(), NFTNL_FLOWTABLE_HOOKNUM, NF_NETDEV_INGRESS);
    nftnl_flowtable_set_s32(flowtable.get(), NFTNL_FLOWTABLE_PRIO, 0);
    std::array<const char*, 2> devices{"lo", nullptr};
    nftnl_flowtable_set_array(flowtable.get(), NFTNL_FLOWTABLE_DEVICES, devices.data());
    const std::uint32_t flowtable_sequence = sequence++;
    header = nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(batch)),
                                   NFT_MSG_NEWFLOWTABLE, NFPROTO_IPV4, NLM_F_CREATE | NLM_F_ACK,
                                   flowtable_sequence);
    nftnl_flowtable_nlmsg_build_payload(header, flowtable.get());
    mnl_nlmsg_batch_next(batch);
    // No batch END: the kernel validates every message, reports each result, and aborts.

    const auto length = mnl_nlmsg_batch_size(batch);
    const bool sent = mnl_socket_sendto(socket.get(), mnl_nlmsg_batch_head(batch), length) >= 0;
    mnl_nlmsg_batch_stop(batch);
    if (!sent) return -errno;

    // Every message asked for an ACK; read until the flowtable's answer arrives.
    std::vector<char> reply(MNL_SOCKET_BUFFER_SIZE);
    for (int attempts = 0; attempts < 16; ++attempts) {
        auto received = mnl_socket_recvfrom(socket.get(), reply.data(), reply.size());
        if (received <= 0) return -EIO;
        auto* message = reinterpret_cast<nlmsghdr*>(reply.data());
        int remaining = static_cast<int>(received);
        while (message_fits(message, remaining)) {
            if (message->nlmsg_type == NLMSG_ERROR && message->nlmsg_seq == flowtable_sequence) {
                const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(message));
                return -error->error;
            }
            message = mnl_nlmsg_next(message, &remaining);
        }
    }
    return -EIO;
}

}  // namespace

KernelFeatures probe_kernel_features() {
    KernelFeatures features;
    const int result = probe_flowtable();
    if (result == 0) {
        features.flowtable = true;
        features.flowtable_message = "flowtable offload available";
    } else if (result > 0) {
        features.flowtable_message = fmt::format(
            "flowtable offload unavailable: the kernel has no nf_flow_table ({}); established "
            "flows take the regular forwarding path",
            std::strerror(result));
    } else {
        features.flowtable_message =
            fmt::format("flowtable offload not probed: {}", std::strerror(-result));
    }
    return features;
}

}  // namespace natctl::netlink
