// The real nftables backend: one long-lived NETLINK_NETFILTER socket (opened in the calling
// thread's network namespace), every transaction sent as one BEGIN…END batch with an ACK
// requested per message, and every kernel error mapped back by sequence number to the
// entry that caused it. Keep one instance for the life of the daemon: closing a netlink
// socket right after deletions blocks while the kernel frees objects.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <vector>

#include "netlink/mnl_socket.hpp"
#include "netlink/nft_transaction.hpp"

struct mnl_socket;

namespace natctl::netlink {

class NftSocket final : public NftBackend {
  public:
    static std::expected<std::unique_ptr<NftSocket>, NftError> open();

    std::expected<void, NftError> apply(const NftTransaction& transaction) override;
    std::expected<kernel::ObservedTable, NftError> dump() override;
    // Chains and rules only (with their counters), no sets: what natctld's metrics read.
    std::expected<kernel::ObservedTable, NftError> dump_rules();

    struct ApplyStats {
        std::chrono::nanoseconds build{};   // encoding the batch in user space
        std::chrono::nanoseconds kernel{};  // sendto + reading every ACK
        std::size_t messages = 0;
        std::size_t bytes = 0;
    };
    const ApplyStats& last_apply_stats() const { return stats_; }
    // The netlink port id the kernel stamps on notifications of this socket's own changes
    // (nlmsg_pid), so that a listener can tell them from everyone else's.
    std::uint32_t port_id() const { return port_id_; }

  private:
    explicit NftSocket(MnlSocket socket);
    std::expected<kernel::ObservedTable, NftError> dump_table(bool with_sets);

    MnlSocket socket_;
    std::uint32_t port_id_ = 0;
    std::uint32_t sequence_ = 0;
    std::uint32_t next_set_id_ = 1;
    int send_buffer_ = 0;
    int receive_buffer_ = 0;
    ApplyStats stats_;
    // Reused by every apply: the batch (sized once per apply, kept for the next one) and the
    // buffer ACKs are read into.
    std::unique_ptr<char[]> batch_storage_;
    std::size_t batch_capacity_ = 0;
    std::vector<char> receive_buffer_storage_;
};

}  // namespace natctl::netlink
