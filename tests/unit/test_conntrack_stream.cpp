// Streamed conntrack dumps without a kernel: receive_dump() (a receiving thread feeding the
// calling one) over a socket pair that carries hand-built netlink datagrams, the ctnetlink
// parser fed messages built by libnetfilter_conntrack, and the Tracker counting a streamed
// dump exactly as it counts a collected one.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include "controller/conntrack/tracker.hpp"
#include "controller/model/addr.hpp"
#include "netlink/conntrack_socket.hpp"
#include "netlink/mnl_receive.hpp"
#include "netlink/netns.hpp"
#include "tests/support/conntrack_fake.hpp"
#include "tests/unit/ipv4.hpp"

using namespace natctl;
using netlink::ConntrackEntry;

using natctl::testing::addr;

namespace {

constexpr std::uint32_t kSequence = 7;
constexpr std::uint32_t kPortId = 4242;
constexpr std::uint16_t kCtNew = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;

// One netlink datagram being built.
class Datagram {
  public:
    // A message of `type` whose payload is `number` (the test's message counter).
    Datagram& message(std::uint32_t number, std::uint32_t sequence = kSequence) {
        auto* header = put(kCtNew, sequence, NLM_F_MULTI);
        auto* payload =
            static_cast<std::uint32_t*>(mnl_nlmsg_put_extra_header(header, sizeof(std::uint32_t)));
        *payload = number;
        return close(header);
    }
    Datagram& done(std::uint32_t sequence = kSequence) {
        auto* header = put(NLMSG_DONE, sequence, NLM_F_MULTI);
        *static_cast<int*>(mnl_nlmsg_put_extra_header(header, sizeof(int))) = 0;
        return close(header);
    }
    Datagram& error(int error_number) {
        auto* header = put(NLMSG_ERROR, kSequence, 0);
        auto* answer = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(header, sizeof(nlmsgerr)));
        answer->error = -error_number;
        return close(header);
    }
    // A ctnetlink entry message as the kernel would send it in a dump (the kernel adds the
    // id, which nfct_nlmsg_build leaves out).
    Datagram& entry(nf_conntrack* ct, std::optional<std::uint32_t> id = std::nullopt) {
        auto* header = put(kCtNew, kSequence, NLM_F_MULTI);
        auto* generic =
            static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(nfgenmsg)));
        generic->nfgen_family = AF_INET;
        generic->version = NFNETLINK_V0;
        REQUIRE(nfct_nlmsg_build(header, ct) == 0);
        if (id) mnl_attr_put_u32(header, CTA_ID, htonl(*id));
        return close(header);
    }
    const std::vector<char>& bytes() const { return bytes_; }
    const nlmsghdr* first() const { return reinterpret_cast<const nlmsghdr*>(bytes_.data()); }

  private:
    nlmsghdr* put(std::uint16_t type, std::uint32_t sequence, std::uint16_t flags) {
        open_at_ = bytes_.size();
        bytes_.resize(open_at_ + 4096, 0);
        auto* header = mnl_nlmsg_put_header(bytes_.data() + open_at_);
        header->nlmsg_type = type;
        header->nlmsg_flags = flags;
        header->nlmsg_seq = sequence;
        header->nlmsg_pid = kPortId;
        return header;
    }
    Datagram& close(nlmsghdr* header) {
        bytes_.resize(open_at_ + NLMSG_ALIGN(header->nlmsg_len));
        return *this;
    }
    std::vector<char> bytes_;
    std::size_t open_at_ = 0;
};

// A connected SOCK_SEQPACKET pair: datagram boundaries are kept as on a netlink socket.
struct SocketPair {
    SocketPair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds) == 0);
        reader = netlink::FileDescriptor(fds[0]);
        writer = netlink::FileDescriptor(fds[1]);
        // A lost end of dump fails a test instead of hanging it.
        timeval timeout{2, 0};
        ::setsockopt(reader.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    }
    void send(const Datagram& datagram) const {
        REQUIRE(::send(writer.get(), datagram.bytes().data(), datagram.bytes().size(), 0) ==
                static_cast<ssize_t>(datagram.bytes().size()));
    }
    // The next datagram's first message number: what the reader side would see next.
    std::uint32_t next_number() const {
        std::vector<char> buffer(65536);
        const ssize_t received = ::recv(reader.get(), buffer.data(), buffer.size(), 0);
        REQUIRE(received > 0);
        const auto* header = reinterpret_cast<const nlmsghdr*>(buffer.data());
        return *static_cast<const std::uint32_t*>(mnl_nlmsg_get_payload(header));
    }
    netlink::FileDescriptor reader, writer;
};

// Sends `datagrams` datagrams of `per_datagram` numbered messages, then the end of the dump,
// from a thread of its own (more than the socket buffer holds).
std::jthread send_dump(const SocketPair& pair, std::uint32_t datagrams,
                       std::uint32_t per_datagram) {
    return std::jthread([&pair, datagrams, per_datagram] {
        std::uint32_t number = 0;
        for (std::uint32_t d = 0; d < datagrams; ++d) {
            Datagram datagram;
            for (std::uint32_t m = 0; m < per_datagram; ++m)
                datagram.message(number++);
            pair.send(datagram);
        }
        pair.send(Datagram().done());
    });
}

struct Received {
    std::vector<std::uint32_t> numbers;
    std::thread::id thread;
    std::size_t fail_at = SIZE_MAX;   // return MNL_CB_ERROR at this message
    std::size_t throw_at = SIZE_MAX;  // throw at this message
};

int on_message(const nlmsghdr* header, void* data) {
    auto& received = *static_cast<Received*>(data);
    if (received.numbers.size() == received.fail_at) {
        errno = EINVAL;
        return MNL_CB_ERROR;
    }
    if (received.numbers.size() == received.throw_at) throw std::runtime_error("callback threw");
    received.numbers.push_back(*static_cast<const std::uint32_t*>(mnl_nlmsg_get_payload(header)));
    received.thread = std::this_thread::get_id();
    return MNL_CB_OK;
}

struct ConntrackDeleter {
    void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};

// A backend that streams (as ConntrackSocket does) from a fake table, and says which way
// it was read.
class StreamingFake final : public netlink::ConntrackBackend, public netlink::ConntrackEntryStream {
  public:
    explicit StreamingFake(netlink::ConntrackFake& table) : table_(table) {}
    std::expected<std::vector<ConntrackEntry>, netlink::ConntrackError> dump_nat() override {
        ++collected;
        return table_.dump_nat();
    }
    std::expected<bool, netlink::ConntrackError> remove(const ConntrackEntry& entry) override {
        return table_.remove(entry);
    }
    std::expected<std::size_t, netlink::ConntrackError> stream_nat(
        const netlink::ConntrackEntryVisitor& visit) override {
        ++streamed;
        auto entries = table_.dump_nat();
        if (!entries) return std::unexpected(entries.error());
        for (const auto& entry : *entries)
            visit(entry);
        return entries->size();
    }
    std::size_t table_size_hint() override { return table_.entries().size(); }

    int collected = 0, streamed = 0;

  private:
    netlink::ConntrackFake& table_;
};

class NoEvents final : public netlink::ConntrackEventSource {
  public:
    std::expected<netlink::ConntrackEventBatch, netlink::ConntrackError> read(
        std::size_t) override {
        netlink::ConntrackEventBatch batch;
        batch.drained = true;
        return batch;
    }
};

ConntrackEntry snat(std::uint32_t source, std::uint16_t sport, std::uint32_t eip) {
    ConntrackEntry e;
    e.protocol = IPPROTO_UDP;
    e.original = {source, addr("192.0.2.1"), sport, 53};
    e.reply = {addr("192.0.2.1"), eip, 53, static_cast<std::uint16_t>(sport + 1)};
    e.status = netlink::kCtStatusSrcNat;
    return e;
}

}  // namespace

TEST_CASE("receive_dump hands every message over in order on the calling thread",
          "[conntrack][stream]") {
    SocketPair pair;
    // Two buffers for 300 datagrams: the receiver waits for the parser again and again.
    auto sender = send_dump(pair, 300, 7);
    Received received;
    auto result = netlink::receive_dump(pair.reader.get(), kSequence, kPortId, on_message,
                                        &received, "the test dump", {.buffers = 2});
    REQUIRE(result);
    REQUIRE(received.numbers.size() == 300 * 7);
    for (std::uint32_t i = 0; i < received.numbers.size(); ++i)
        REQUIRE(received.numbers[i] == i);
    CHECK(received.thread == std::this_thread::get_id());
}

TEST_CASE("a failed or throwing callback still reads the dump to its end", "[conntrack][stream]") {
    SocketPair pair;
    Received received;
    SECTION("failing") {
        auto sender = send_dump(pair, 50, 10);
        received.fail_at = 25;
        auto result = netlink::receive_dump(pair.reader.get(), kSequence, kPortId, on_message,
                                            &received, "the test dump", {.buffers = 2});
        REQUIRE_FALSE(result);
        CHECK(result.error().error_number == EINVAL);
        CHECK(result.error().message.starts_with("reading the test dump: "));
    }
    SECTION("throwing") {
        auto sender = send_dump(pair, 50, 10);
        received.throw_at = 25;
        CHECK_THROWS_AS(netlink::receive_dump(pair.reader.get(), kSequence, kPortId, on_message,
                                              &received, "the test dump", {.buffers = 2}),
                        std::runtime_error);
    }
    CHECK(received.numbers.size() == 25);
    // Nothing of the dump is left behind: the next datagram is the next request's.
    pair.send(Datagram().message(12345));
    CHECK(pair.next_number() == 12345);
}

TEST_CASE("receive_dump reports the dump's errors", "[conntrack][stream]") {
    SocketPair pair;
    Received received;
    SECTION("an NLMSG_ERROR answer") {
        pair.send(Datagram().error(EBUSY));
        auto result = netlink::receive_dump(pair.reader.get(), kSequence, kPortId, on_message,
                                            &received, "the test dump");
        REQUIRE_FALSE(result);
        CHECK(result.error().error_number == EBUSY);
    }
    SECTION("a datagram larger than a buffer") {
        Datagram big;
        for (std::uint32_t m = 0; m < 200; ++m)
            big.message(m);
        big.done();
        pair.send(big);
        auto result = netlink::receive_dump(pair.reader.get(), kSequence, kPortId, on_message,
                                            &received, "the test dump", {.buffer_size = 1024});
        REQUIRE_FALSE(result);
        CHECK(result.error().error_number == ENOSPC);
        CHECK(received.numbers.empty());
    }
    SECTION("no answer") {
        timeval timeout{0, 100'000};
        ::setsockopt(pair.reader.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        auto result = netlink::receive_dump(pair.reader.get(), kSequence, kPortId, on_message,
                                            &received, "the test dump");
        REQUIRE_FALSE(result);
        CHECK(result.error().error_number == EAGAIN);
    }
    SECTION("a stale answer of an earlier request before ours") {
        pair.send(Datagram().message(1, kSequence - 1).done(kSequence - 1));
        pair.send(Datagram().message(2).done());
        pair.send(Datagram().message(3));  // the next request's
        auto result = netlink::receive_dump(pair.reader.get(), kSequence, kPortId, on_message,
                                            &received, "the test dump");
        REQUIRE_FALSE(result);
        CHECK(result.error().error_number == EPROTO);
        CHECK(pair.next_number() == 3);  // ours was read to its end all the same
    }
}

// An IPv4 entry original src → dst, reply reply_src → reply_dst, with `status`; the
// protocol's own fields are the caller's to add.
std::unique_ptr<nf_conntrack, ConntrackDeleter> conntrack_object(
    std::uint8_t protocol, std::string_view src, std::string_view dst, std::string_view reply_src,
    std::string_view reply_dst, std::uint32_t status) {
    std::unique_ptr<nf_conntrack, ConntrackDeleter> ct(nfct_new());
    REQUIRE(ct);
    auto* c = ct.get();
    nfct_set_attr_u8(c, ATTR_L3PROTO, AF_INET);
    nfct_set_attr_u32(c, ATTR_IPV4_SRC, htonl(addr(src)));
    nfct_set_attr_u32(c, ATTR_IPV4_DST, htonl(addr(dst)));
    nfct_set_attr_u8(c, ATTR_L4PROTO, protocol);
    nfct_set_attr_u8(c, ATTR_REPL_L3PROTO, AF_INET);
    nfct_set_attr_u32(c, ATTR_REPL_IPV4_SRC, htonl(addr(reply_src)));
    nfct_set_attr_u32(c, ATTR_REPL_IPV4_DST, htonl(addr(reply_dst)));
    nfct_set_attr_u8(c, ATTR_REPL_L4PROTO, protocol);
    nfct_set_attr_u32(c, ATTR_STATUS, status);
    return ct;
}

TEST_CASE("the ctnetlink parser reads what libnetfilter_conntrack builds", "[conntrack][stream]") {
    constexpr std::uint32_t kConfirmed = 1u << 3;  // IPS_CONFIRMED: a bit the parser passes on
    auto ct = conntrack_object(IPPROTO_TCP, "10.0.1.10", "192.0.2.1", "192.0.2.1", "203.0.113.10",
                               netlink::kCtStatusSrcNat | kConfirmed);
    auto* c = ct.get();
    nfct_set_attr_u16(c, ATTR_PORT_SRC, htons(40000));
    nfct_set_attr_u16(c, ATTR_PORT_DST, htons(443));
    nfct_set_attr_u16(c, ATTR_REPL_PORT_SRC, htons(443));
    nfct_set_attr_u16(c, ATTR_REPL_PORT_DST, htons(2000));
    nfct_set_attr_u32(c, ATTR_MARK, 0x42);
    nfct_set_attr_u16(c, ATTR_ZONE, 3);

    Datagram datagram;
    datagram.entry(c, 99);
    auto entry = netlink::decode_conntrack_message(datagram.first(), nullptr);
    REQUIRE(entry);
    CHECK(entry->protocol == IPPROTO_TCP);
    CHECK(entry->original ==
          netlink::ConntrackTuple{addr("10.0.1.10"), addr("192.0.2.1"), 40000, 443});
    CHECK(entry->reply ==
          netlink::ConntrackTuple{addr("192.0.2.1"), addr("203.0.113.10"), 443, 2000});
    CHECK(entry->status == (netlink::kCtStatusSrcNat | kConfirmed));
    CHECK(entry->src_nat());
    CHECK_FALSE(entry->dst_nat());
    CHECK(entry->mark == 0x42);
    CHECK(entry->zone == 3);
    CHECK(entry->id == 99u);
    CHECK_FALSE(entry->icmp);

    SECTION("ICMP carries its type, code and id instead of ports") {
        auto echo = conntrack_object(IPPROTO_ICMP, "10.0.1.21", "192.0.2.1", "192.0.2.1",
                                     "203.0.113.12", netlink::kCtStatusSrcNat);
        nfct_set_attr_u8(echo.get(), ATTR_ICMP_TYPE, 8);
        nfct_set_attr_u8(echo.get(), ATTR_ICMP_CODE, 0);
        nfct_set_attr_u16(echo.get(), ATTR_ICMP_ID, htons(77));
        Datagram icmp;
        icmp.entry(echo.get());
        auto decoded = netlink::decode_conntrack_message(icmp.first(), nullptr);
        REQUIRE(decoded);
        REQUIRE(decoded->icmp);
        CHECK(*decoded->icmp == netlink::ConntrackIcmp{8, 0, 77});
        CHECK(decoded->original.sport == 0);
        CHECK(decoded->reply.dst == addr("203.0.113.12"));
    }
    SECTION("a truncated attribute ends the parse without reading past the message") {
        // Cut the message inside its last attribute (CTA_ID): the entry still decodes,
        // without the id.
        Datagram cut;
        cut.entry(c, 99);
        std::vector<char> bytes = cut.bytes();
        auto* header = reinterpret_cast<nlmsghdr*>(bytes.data());
        header->nlmsg_len -= 4;  // half of CTA_ID (8 bytes), keeping the 4-byte alignment
        auto decoded = netlink::decode_conntrack_message(header, nullptr);
        REQUIRE(decoded);
        CHECK_FALSE(decoded->id);
        CHECK(decoded->original == entry->original);
    }
}

namespace {

// Appends one netlink attribute (header, payload, padding to 4 bytes) and returns its offset.
std::size_t put_attribute(std::vector<std::uint8_t>& out, std::uint16_t type,
                          std::vector<std::uint8_t> payload) {
    const std::size_t at = out.size();
    const auto length = static_cast<std::uint16_t>(NLA_HDRLEN + payload.size());
    out.resize(at + NLA_ALIGN(length));
    std::memcpy(out.data() + at, &length, sizeof length);
    std::memcpy(out.data() + at + 2, &type, sizeof type);
    std::memcpy(out.data() + at + NLA_HDRLEN, payload.data(), payload.size());
    return at;
}

std::vector<std::uint8_t> tcp_tuple(std::uint32_t src, std::uint32_t dst, std::uint16_t sport,
                                    std::uint16_t dport) {
    auto be32_bytes = [](std::uint32_t value) {
        value = htonl(value);
        std::vector<std::uint8_t> bytes(4);
        std::memcpy(bytes.data(), &value, 4);
        return bytes;
    };
    auto be16_bytes = [](std::uint16_t value) {
        value = htons(value);
        return std::vector<std::uint8_t>{static_cast<std::uint8_t>(value & 0xff),
                                         static_cast<std::uint8_t>(value >> 8)};
    };
    std::vector<std::uint8_t> ip, proto, tuple;
    put_attribute(ip, CTA_IP_V4_SRC, be32_bytes(src));
    put_attribute(ip, CTA_IP_V4_DST, be32_bytes(dst));
    put_attribute(proto, CTA_PROTO_NUM, {IPPROTO_TCP});
    put_attribute(proto, CTA_PROTO_SRC_PORT, be16_bytes(sport));
    put_attribute(proto, CTA_PROTO_DST_PORT, be16_bytes(dport));
    put_attribute(tuple, CTA_TUPLE_IP | NLA_F_NESTED, ip);
    put_attribute(tuple, CTA_TUPLE_PROTO | NLA_F_NESTED, proto);
    return tuple;
}

}  // namespace

// Found by fuzz/netlink_conntrack: a nest whose last attribute has an unaligned length ending
// exactly at the nest's end moved the walk past the end, where end - at wrapped around and
// the walk went on into the next attributes (and past the message: a heap over-read).
TEST_CASE("an unaligned last attribute ends its nest", "[conntrack][stream]") {
    auto original = tcp_tuple(addr("10.0.1.5"), addr("198.51.100.7"), 40000, 443);
    // 5 bytes: its aligned length (8) runs 3 bytes past the nest that ends with it.
    original.resize(original.size() + 5);
    const std::uint16_t odd_length = 5, odd_type = 9;
    std::memcpy(original.data() + original.size() - 5, &odd_length, 2);
    std::memcpy(original.data() + original.size() - 3, &odd_type, 2);
    const auto reply = tcp_tuple(addr("198.51.100.7"), addr("203.0.113.9"), 443, 1024);

    std::vector<std::uint8_t> message(NLMSG_HDRLEN + sizeof(nfgenmsg));
    put_attribute(message, CTA_TUPLE_ORIG | NLA_F_NESTED, original);
    // The nest's length counts the 5-byte attribute, not its padding.
    const auto orig_length = static_cast<std::uint16_t>(NLA_HDRLEN + original.size());
    std::memcpy(message.data() + NLMSG_HDRLEN + sizeof(nfgenmsg), &orig_length, 2);
    put_attribute(message, CTA_TUPLE_REPLY | NLA_F_NESTED, reply);
    nlmsghdr header{};
    header.nlmsg_len = static_cast<std::uint32_t>(message.size());
    header.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
    std::memcpy(message.data(), &header, sizeof header);
    nfgenmsg generic{};
    generic.nfgen_family = AF_INET;
    std::memcpy(message.data() + NLMSG_HDRLEN, &generic, sizeof generic);
    // Zeroed words after the message, read only by a walk that overruns it (an attribute of
    // length 0 stops any walk).
    std::vector<std::uint32_t> aligned((message.size() + 64) / 4, 0);
    std::memcpy(aligned.data(), message.data(), message.size());

    auto decoded = netlink::decode_conntrack_message(
        reinterpret_cast<const nlmsghdr*>(aligned.data()), nullptr);
    REQUIRE(decoded);
    CHECK(decoded->protocol == IPPROTO_TCP);
    CHECK(decoded->original.src == addr("10.0.1.5"));
    CHECK(decoded->original.sport == 40000);
    CHECK(decoded->original.dport == 443);
    CHECK(decoded->reply.dst == addr("203.0.113.9"));
}

TEST_CASE("the tracker counts a streamed dump as it counts a collected one",
          "[conntrack][tracker][stream]") {
    netlink::ConntrackFake table;
    for (std::uint32_t i = 0; i < 5000; ++i)
        table.insert(snat(addr("10.0.1.0") + i % 200, static_cast<std::uint16_t>(10000 + i),
                          addr("203.0.113.10") + i % 3));
    ConntrackEntry unnatted = snat(addr("10.0.9.9"), 1, addr("203.0.113.10"));
    unnatted.status = 0;
    table.insert(unnatted);

    conntrack::Accounting expected;
    expected.reset(table.dump_nat().value());

    StreamingFake streaming(table);
    NoEvents events;
    conntrack::Tracker tracker(streaming, events);
    REQUIRE(tracker.resync());
    CHECK(streaming.streamed == 1);
    CHECK(streaming.collected == 0);
    CHECK(tracker.accounting().sessions() == 5000);
    CHECK(tracker.accounting().by_public() == expected.by_public());
    CHECK(tracker.accounting().by_private() == expected.by_private());
    CHECK(tracker.stats().last_dump_entries == 5000);
    CHECK(tracker.stats().in_sync);

    SECTION("a failed stream keeps the last counts and says so") {
        table.fail_dump(EBUSY);
        auto failed = tracker.resync();
        REQUIRE_FALSE(failed);
        CHECK(failed.error().starts_with("conntrack dump: "));
        CHECK(tracker.stats().resync_failures == 1);
        CHECK_FALSE(tracker.stats().in_sync);
        CHECK(tracker.accounting().sessions() == 5000);
    }
    SECTION("a backend that does not stream is dumped whole") {
        conntrack::Tracker collecting(table, events);
        REQUIRE(collecting.resync());
        CHECK(collecting.accounting().by_public() == tracker.accounting().by_public());
    }
}

TEST_CASE("the accounting's entry table survives churn", "[conntrack][accounting][stream]") {
    // Few distinct keys, many adds, replacements and removals: long probe runs, entries
    // moved by removals, backward shifts across the end of the index.
    std::mt19937 random(42);
    conntrack::Accounting accounting;
    std::map<std::pair<std::uint32_t, std::uint16_t>, ConntrackEntry> reference;
    for (int step = 0; step < 200'000; ++step) {
        const std::uint32_t source = addr("10.0.0.0") + random() % 64;
        const auto sport = static_cast<std::uint16_t>(random() % 64);
        ConntrackEntry entry = snat(source, sport, addr("203.0.113.10") + random() % 2);
        if (step % 1000 == 0) accounting.reserve(random() % 5000);
        if (random() % 3 == 0) {
            accounting.remove(entry);
            reference.erase({source, sport});
        } else {
            accounting.add(entry);
            reference[{source, sport}] = entry;
        }
        if (step % 5000 == 0 || step == 199'999) {
            REQUIRE(accounting.sessions() == reference.size());
            std::size_t found = 0;
            accounting.for_each([&](const ConntrackEntry& e) {
                auto it = reference.find({e.original.src, e.original.sport});
                REQUIRE(it != reference.end());
                CHECK(it->second == e);
                ++found;
            });
            CHECK(found == reference.size());
            conntrack::Accounting rebuilt;
            std::vector<ConntrackEntry> all;
            for (const auto& [key, e] : reference)
                all.push_back(e);
            rebuilt.reset(all);
            REQUIRE(accounting.by_public() == rebuilt.by_public());
            REQUIRE(accounting.by_private() == rebuilt.by_private());
        }
    }
}
