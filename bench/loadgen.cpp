// Load generator for the data-plane benchmark (bench/run): new TCP connections per second and
// UDP packets per second through a NAT gateway. Not a test. Modes:
//
//   loadgen tcp-server --port P                  accept and close until killed
//   loadgen tcp --dst A.B.C.D:P --parallel N --duration S
//        N nonblocking connects in flight (epoll); a connection counts when the handshake
//        completes through the gateway; it is then closed with SO_LINGER 0 (RST), so that
//        neither TIME_WAIT nor a lingering conntrack entry limits the rate: the next SYN on
//        the same tuple makes conntrack start a new entry and the NAT chains run again.
//        Prints: tcp connections C failed F seconds T rate R
//   loadgen udp-sink --port P [--wait S]         counts datagrams; stops 1 s after the last
//        one (or after S seconds with none). Prints: udp received C seconds T rate R
//   loadgen udp --dst A.B.C.D:P --duration S [--size B]
//        blasts B-byte datagrams (default 64) from one socket with sendmmsg.
//        Prints: udp sent C seconds T cpu_ns N rate R, where N is the sender's CPU time
//        (user + system) per datagram: with veth the gateway's forwarding runs in the
//        sender's softirq context, so N holds the whole path's cost per packet and, unlike
//        the rate, barely moves when other work shares the machine
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace {

using Clock = std::chrono::steady_clock;

// Owns a file descriptor.
class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

  private:
    int fd_ = -1;
};

double seconds(Clock::duration duration) {
    return std::chrono::duration<double>(duration).count();
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "loadgen: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: loadgen tcp-server --port P | tcp --dst IP:PORT --parallel N --duration "
                 "S | udp-sink --port P [--wait S] | udp --dst IP:PORT --duration S [--size B]\n");
    std::exit(2);
}

struct Options {
    std::string mode;
    std::optional<sockaddr_in> dst;
    int port = 0, parallel = 64, size = 64;
    double duration = 3, wait = 10;
};

sockaddr_in parse_endpoint(std::string_view text) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) usage();
    sockaddr_in address{};
    address.sin_family = AF_INET;
    std::string host(text.substr(0, colon));
    if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) usage();
    address.sin_port = htons(static_cast<std::uint16_t>(std::atoi(text.data() + colon + 1)));
    return address;
}

Options parse(int argc, char** argv) {
    if (argc < 2) usage();
    Options options;
    options.mode = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        std::string_view flag = argv[i];
        const char* value = argv[i + 1];
        if (flag == "--dst")
            options.dst = parse_endpoint(value);
        else if (flag == "--port")
            options.port = std::atoi(value);
        else if (flag == "--parallel")
            options.parallel = std::atoi(value);
        else if (flag == "--size")
            options.size = std::atoi(value);
        else if (flag == "--duration")
            options.duration = std::atof(value);
        else if (flag == "--wait")
            options.wait = std::atof(value);
        else
            usage();
    }
    return options;
}

Fd bound_socket(int type, int port) {
    Fd fd(::socket(AF_INET, type, 0));
    if (!fd.valid()) die("socket");
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) die("bind");
    return fd;
}

int tcp_server(const Options& options) {
    auto listener = bound_socket(SOCK_STREAM, options.port);
    if (::listen(listener.get(), 4096) != 0) die("listen");
    // A plain close (FIN): an RST from here could reach the client before it has seen its
    // own handshake complete and turn a connection into a failure. The client's RST then
    // ends the connection on both sides.
    for (;;) {
        Fd connection(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        // the client's RST may beat accept (ECONNABORTED): nothing to do
    }
}

int tcp_client(const Options& options) {
    if (!options.dst) usage();
    Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll.valid()) die("epoll_create1");
    // Connections in flight, indexed by slot (the epoll cookie).
    std::vector<Fd> slots(static_cast<std::size_t>(options.parallel));
    std::uint64_t connected = 0, failed = 0;
    std::array<std::uint64_t, 256> failures{};  // by errno
    auto fail = [&](int error) {
        ++failed;
        ++failures[static_cast<std::size_t>(error) & 255];
    };
    linger abort{1, 0};

    auto start_one = [&](std::size_t slot) {
        for (;;) {
            Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            if (!fd.valid()) die("socket");
            ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
            int rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*options.dst),
                               sizeof(sockaddr_in));
            if (rc == 0) {  // completed at once (not across a real gateway)
                ++connected;
                continue;
            }
            if (errno != EINPROGRESS) {
                fail(errno);
                if (errno == EADDRNOTAVAIL || errno == EAGAIN) continue;
                die("connect");
            }
            epoll_event event{};
            event.events = EPOLLOUT;
            event.data.u64 = slot;
            if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd.get(), &event) != 0) die("epoll_ctl");
            slots[slot] = std::move(fd);
            return;
        }
    };

    auto begin = Clock::now();
    auto end = begin + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(options.duration));
    for (std::size_t slot = 0; slot < slots.size(); ++slot)
        start_one(slot);
    std::array<epoll_event, 256> events{};
    while (Clock::now() < end) {
        int count = ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), 50);
        if (count < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < count; ++i) {
            auto slot = static_cast<std::size_t>(events[static_cast<std::size_t>(i)].data.u64);
            int error = 0;
            socklen_t length = sizeof error;
            ::getsockopt(slots[slot].get(), SOL_SOCKET, SO_ERROR, &error, &length);
            if (error == 0)
                ++connected;
            else
                fail(error);
            slots[slot].reset();  // closing removes it from the epoll set; linger 0: RST
            start_one(slot);
        }
    }
    double elapsed = seconds(Clock::now() - begin);
    std::printf("tcp connections %llu failed %llu seconds %.3f rate %.0f\n",
                static_cast<unsigned long long>(connected), static_cast<unsigned long long>(failed),
                elapsed, static_cast<double>(connected) / elapsed);
    for (std::size_t error = 0; error < failures.size(); ++error)
        if (failures[error] > 0)
            std::fprintf(stderr, "loadgen: %llu connects failed: %s\n",
                         static_cast<unsigned long long>(failures[error]),
                         std::strerror(static_cast<int>(error)));
    return connected > 0 ? 0 : 1;
}

int udp_sink(const Options& options) {
    auto fd = bound_socket(SOCK_DGRAM, options.port);
    int buffer = 8 << 20;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer);
    timeval tick{0, 100000};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    constexpr std::size_t kBatch = 64;
    std::vector<std::array<char, 2048>> buffers(kBatch);
    std::array<iovec, kBatch> iov{};
    std::array<mmsghdr, kBatch> messages{};
    for (std::size_t i = 0; i < kBatch; ++i) {
        iov[i] = {buffers[i].data(), buffers[i].size()};
        messages[i].msg_hdr.msg_iov = &iov[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    std::uint64_t received = 0;
    auto started = Clock::now();
    Clock::time_point first{}, last{};
    for (;;) {
        int count = ::recvmmsg(fd.get(), messages.data(), kBatch, 0, nullptr);
        auto now = Clock::now();
        if (count > 0) {
            if (received == 0) first = now;
            received += static_cast<std::uint64_t>(count);
            last = now;
            continue;
        }
        if (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) die("recvmmsg");
        if (received > 0 && now - last > std::chrono::seconds(1)) break;
        if (received == 0 && seconds(now - started) > options.wait) break;
    }
    double span = received > 1 ? seconds(last - first) : 0;
    std::printf("udp received %llu seconds %.3f rate %.0f\n",
                static_cast<unsigned long long>(received), span,
                span > 0 ? static_cast<double>(received) / span : 0.0);
    return received > 0 ? 0 : 1;
}

int udp_client(const Options& options) {
    if (!options.dst) usage();
    Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) die("socket");
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*options.dst),
                  sizeof(sockaddr_in)) != 0)
        die("connect");
    constexpr std::size_t kBatch = 64;
    std::vector<char> payload(static_cast<std::size_t>(options.size), 'x');
    std::array<iovec, kBatch> iov{};
    std::array<mmsghdr, kBatch> messages{};
    for (std::size_t i = 0; i < kBatch; ++i) {
        iov[i] = {payload.data(), payload.size()};
        messages[i].msg_hdr.msg_iov = &iov[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    auto cpu_ns = [] {
        rusage usage{};
        ::getrusage(RUSAGE_SELF, &usage);
        auto ns = [](const timeval& t) {
            return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_usec) * 1e3;
        };
        return ns(usage.ru_utime) + ns(usage.ru_stime);
    };
    std::uint64_t sent = 0;
    const double cpu_begin = cpu_ns();
    auto begin = Clock::now();
    auto end = begin + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(options.duration));
    while (Clock::now() < end) {
        int count = ::sendmmsg(fd.get(), messages.data(), kBatch, 0);
        if (count > 0)
            sent += static_cast<std::uint64_t>(count);
        else if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED && errno != EINTR)
            die("sendmmsg");
    }
    double elapsed = seconds(Clock::now() - begin);
    const double cpu = cpu_ns() - cpu_begin;
    std::printf("udp sent %llu seconds %.3f cpu_ns %.0f rate %.0f\n",
                static_cast<unsigned long long>(sent), elapsed,
                sent > 0 ? cpu / static_cast<double>(sent) : 0.0,
                static_cast<double>(sent) / elapsed);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    auto options = parse(argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    if (options.mode == "tcp-server") return tcp_server(options);
    if (options.mode == "tcp") return tcp_client(options);
    if (options.mode == "udp-sink") return udp_sink(options);
    if (options.mode == "udp") return udp_client(options);
    usage();
}
