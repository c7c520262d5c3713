// Conntrack accounting at scale, in the network namespace it runs in (bench/conntrack_accounting.sh
// creates one and runs this inside it with `ip netns exec`):
//   1. an event burst: natctld's LiveAccounting (default 32 MiB event buffer) runs while
//      N SNAT'd UDP entries are injected over ctnetlink in batches; reports the events
//      expected / seen / ENOBUFS and whether the accounting ended equal to the table;
//   2. the full-table accounting as natctld does it on every (re-)dump (Tracker::resync:
//      dump + count), against `conntrack -L > /dev/null` on the same table, RUNS times each,
//      interleaved.
//
//   conntrack_accounting [--entries N] [--runs R]
//   conntrack_accounting --inject-only N
//      only injects the N entries and exits (bench/ha_failover.sh: connections for
//      conntrackd to sync and commit)
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "controller/conntrack/live.hpp"
#include "controller/conntrack/tracker.hpp"
#include "netlink/conntrack_events.hpp"
#include "netlink/conntrack_socket.hpp"
#include "netlink/mnl_socket.hpp"

namespace {

using namespace natctl;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct ConntrackDeleter {
    void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};

// N UDP entries: 1000 sources 10.1.x.y × N/1000 source ports, to 4 destinations
// 192.0.2.1-4:53, SNAT'd by the kernel to 4 EIPs 203.0.113.10-13 (CTA_NAT_SRC: the kernel
// sets up the translation and the SRC_NAT status itself). Batched: ~64 KiB per sendto,
// no ACKs; errors still come back and are counted.
std::size_t inject(std::size_t count) {
    natctl::netlink::MnlSocket socket(mnl_socket_open(NETLINK_NETFILTER));
    if (!socket || mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
        std::perror("ctnetlink socket");
        std::exit(1);
    }
    const int fd = mnl_socket_get_fd(socket.get());
    const int size = 64 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size));
    std::unique_ptr<nf_conntrack, ConntrackDeleter> ct(nfct_new());
    std::vector<char> batch(256 * 1024);
    std::size_t used = 0, errors = 0;
    std::vector<char> answer(MNL_SOCKET_BUFFER_SIZE);
    auto drain_errors = [&] {
        while (true) {
            const ssize_t n = ::recv(fd, answer.data(), answer.size(), MSG_DONTWAIT);
            if (n <= 0) return;
            for (auto* h = reinterpret_cast<nlmsghdr*>(answer.data());
                 mnl_nlmsg_ok(h, static_cast<int>(n));
                 h = reinterpret_cast<nlmsghdr*>(reinterpret_cast<char*>(h) +
                                                 NLMSG_ALIGN(h->nlmsg_len)))
                if (h->nlmsg_type == NLMSG_ERROR &&
                    static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h))->error != 0)
                    ++errors;
        }
    };
    auto flush = [&] {
        if (used == 0) return;
        if (::send(fd, batch.data(), used, 0) < 0) std::perror("send");
        used = 0;
        drain_errors();
    };
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint32_t source = 0x0a010000 + static_cast<std::uint32_t>(i % 1000);
        const auto sport = static_cast<std::uint16_t>(10000 + i / 1000);
        const std::uint32_t remote = 0xc0000201 + static_cast<std::uint32_t>(i % 4);
        const std::uint32_t eip = 0xcb00710a + static_cast<std::uint32_t>((i / 4) % 4);
        auto* c = ct.get();
        nfct_set_attr_u8(c, ATTR_L3PROTO, AF_INET);
        nfct_set_attr_u32(c, ATTR_IPV4_SRC, htonl(source));
        nfct_set_attr_u32(c, ATTR_IPV4_DST, htonl(remote));
        nfct_set_attr_u8(c, ATTR_L4PROTO, IPPROTO_UDP);
        nfct_set_attr_u16(c, ATTR_PORT_SRC, htons(sport));
        nfct_set_attr_u16(c, ATTR_PORT_DST, htons(53));
        nfct_set_attr_u8(c, ATTR_REPL_L3PROTO, AF_INET);
        nfct_set_attr_u32(c, ATTR_REPL_IPV4_SRC, htonl(remote));
        nfct_set_attr_u32(c, ATTR_REPL_IPV4_DST, htonl(source));
        nfct_set_attr_u8(c, ATTR_REPL_L4PROTO, IPPROTO_UDP);
        nfct_set_attr_u16(c, ATTR_REPL_PORT_SRC, htons(53));
        nfct_set_attr_u16(c, ATTR_REPL_PORT_DST, htons(sport));
        nfct_set_attr_u32(c, ATTR_SNAT_IPV4, htonl(eip));
        nfct_set_attr_u32(c, ATTR_TIMEOUT, 1200);
        if (batch.size() - used < 1024) flush();
        auto* header = mnl_nlmsg_put_header(batch.data() + used);
        header->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
        header->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
        header->nlmsg_seq = static_cast<std::uint32_t>(i + 1);
        auto* generic =
            static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(nfgenmsg)));
        generic->nfgen_family = AF_INET;
        generic->version = NFNETLINK_V0;
        generic->res_id = 0;
        nfct_nlmsg_build(header, c);
        used += NLMSG_ALIGN(header->nlmsg_len);
    }
    flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    drain_errors();
    return errors;
}

// An event source that never has anything: resync() then measures the dump and count only.
class NoEvents final : public netlink::ConntrackEventSource {
  public:
    std::expected<netlink::ConntrackEventBatch, netlink::ConntrackError> read(
        std::size_t) override {
        return netlink::ConntrackEventBatch{};
    }
};

struct Summary {
    double median = 0, min = 0, max = 0;
};
Summary summarize(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return {values[values.size() / 2], values.front(), values.back()};
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t entries = 200000;
    int runs = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--inject-only") {
            const auto count = std::stoul(argv[i + 1]);
            const auto start = Clock::now();
            const auto failed = inject(count);
            std::printf("injected %zu entries in %.0f ms, %zu refused\n", count - failed,
                        ms_since(start), failed);
            return failed == 0 ? 0 : 1;
        }
        if (flag == "--entries")
            entries = std::stoul(argv[i + 1]);
        else if (flag == "--runs")
            runs = std::stoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: %s [--entries N] [--runs R] | --inject-only N\n", argv[0]);
            return 2;
        }
    }

    // 1. the burst, read by the daemon's own accounting at its default settings
    std::uint64_t seen = 0, enobufs = 0, sessions = 0, resyncs = 0;
    double inject_ms = 0, settle_ms = 0;
    std::size_t errors = 0;
    {
        auto live = conntrack::LiveAccounting::start(conntrack::LiveOptions{});
        if (!live) {
            std::fprintf(stderr, "accounting: %s\n", live.error().c_str());
            return 1;
        }
        const auto& tracker = (*live)->tracker();
        while (!tracker.read([](const auto&, const auto& s) { return s.in_sync; }))
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        const auto start = Clock::now();
        errors = inject(entries);
        inject_ms = ms_since(start);
        // until every event is in, or nothing moved for 2 s
        auto last_change = Clock::now();
        std::uint64_t last = 0;
        while (Clock::now() - last_change < std::chrono::seconds(2)) {
            std::tie(seen, enobufs, sessions,
                     resyncs) = tracker.read([](const conntrack::Accounting& a,
                                                const conntrack::TrackerStats& s) {
                return std::tuple{s.events, s.overflows, std::uint64_t(a.sessions()), s.resyncs};
            });
            if (seen != last) {
                last = seen;
                last_change = Clock::now();
            }
            if (seen >= entries && sessions >= entries) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        settle_ms = ms_since(start);
    }
    std::printf(
        "burst: entries %zu injected in %.0f ms (%zu errors); events expected %zu seen %llu "
        "enobufs %llu resyncs %llu; accounting %llu sessions after %.0f ms\n",
        entries, inject_ms, errors, entries, static_cast<unsigned long long>(seen),
        static_cast<unsigned long long>(enobufs), static_cast<unsigned long long>(resyncs),
        static_cast<unsigned long long>(sessions), settle_ms);

    // 2. full-table accounting vs conntrack -L, interleaved
    auto dumper = netlink::ConntrackSocket::open();
    if (!dumper) {
        std::fprintf(stderr, "dump socket: %s\n", dumper.error().message.c_str());
        return 1;
    }
    NoEvents none;
    std::vector<double> natctl_ms, dump_only_ms, cli_ms;
    std::uint64_t counted = 0;
    for (int run = 0; run < runs; ++run) {
        {
            conntrack::Tracker tracker(*dumper, none);
            const auto start = Clock::now();
            if (auto done = tracker.resync(); !done) {
                std::fprintf(stderr, "resync: %s\n", done.error().c_str());
                return 1;
            }
            natctl_ms.push_back(ms_since(start));
            counted = tracker.accounting().sessions();
        }
        {
            const auto start = Clock::now();
            auto dumped = dumper->dump_nat();
            dump_only_ms.push_back(ms_since(start));
            if (!dumped) return 1;
        }
        {
            const auto start = Clock::now();
            if (std::system("conntrack -L >/dev/null 2>&1") != 0) {
                std::fprintf(stderr, "conntrack -L failed\n");
                return 1;
            }
            cli_ms.push_back(ms_since(start));
        }
    }
    const auto a = summarize(natctl_ms), d = summarize(dump_only_ms), c = summarize(cli_ms);
    std::printf(
        "accounting: natctl dump+count %.0f ms (%.0f-%.0f), of which dump %.0f ms "
        "(%.0f-%.0f); conntrack -L >/dev/null %.0f ms (%.0f-%.0f); ratio %.2f; "
        "%llu sessions counted; %d runs\n",
        a.median, a.min, a.max, d.median, d.min, d.max, c.median, c.min, c.max, a.median / c.median,
        static_cast<unsigned long long>(counted), runs);
    return 0;
}
