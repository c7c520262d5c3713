#include "netlink/mnl_receive.hpp"
#include "netlink/nlmsg_fits.hpp"

#include <linux/netlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include <fmt/format.h>

namespace natctl::netlink {
namespace {

ConntrackError errno_error(std::string_view doing, std::string_view what, int error) {
    return ConntrackError{fmt::format("{} {}: {}", doing, what, std::strerror(error)), error};
}

struct Datagram {
    std::vector<char> bytes;  // the buffer, sized once
    std::size_t length = 0;   // of the datagram in it
};

// Datagrams handed from the receiving thread to the parsing one through a fixed pool of
// buffers, in order: no allocation per datagram, and the receiver waits when the parser
// falls `buffers` datagrams behind.
//
// The parser is several times faster than the kernel, so it mostly waits; woken for every
// datagram, it cost the receiver a futex wake-up and both threads a context switch per
// 32 KiB (over 2000 switches per 200k-entry dump). It is woken once half the pool is
// filled instead (or at the end): never later than the receiver needs buffers back.
class DatagramPool {
  public:
    DatagramPool(std::size_t buffers, std::size_t buffer_size)
        : storage_(buffers), wake_batch_(std::max<std::size_t>(buffers / 2, 1)) {
        for (auto& datagram : storage_) {
            datagram.bytes.resize(buffer_size);
            free_.push_back(&datagram);
        }
    }

    // Receiver: a buffer to fill; nullptr once `stop` is requested.
    Datagram* take_free(std::stop_token stop) {
        std::unique_lock lock(mutex_);
        if (!freed_.wait(lock, stop, [&] { return !free_.empty(); })) return nullptr;
        Datagram* datagram = free_.back();
        free_.pop_back();
        return datagram;
    }
    // Receiver: `datagram` is filled; the parser takes it after those published before.
    void publish(Datagram* datagram) {
        bool wake = false;
        {
            std::lock_guard lock(mutex_);
            filled_.push_back(datagram);
            wake = filled_.size() >= wake_batch_;
        }
        if (wake) published_.notify_one();
    }
    // Receiver: nothing more will be published; `error` when receiving failed.
    void finish(std::optional<ConntrackError> error) {
        {
            std::lock_guard lock(mutex_);
            finished_ = true;
            receive_error_ = std::move(error);
        }
        published_.notify_one();
    }

    // Parser: the next filled datagram; nullptr when the receiver finished and every
    // datagram was taken.
    Datagram* take_filled() {
        std::unique_lock lock(mutex_);
        published_.wait(lock, [&] { return !filled_.empty() || finished_; });
        if (filled_.empty()) return nullptr;
        Datagram* datagram = filled_.front();
        filled_.pop_front();
        return datagram;
    }
    // Parser: done with `datagram`.
    void give_back(Datagram* datagram) {
        {
            std::lock_guard lock(mutex_);
            free_.push_back(datagram);
        }
        freed_.notify_one();
    }
    // After take_filled() returned nullptr.
    std::optional<ConntrackError> receive_error() {
        std::lock_guard lock(mutex_);
        return receive_error_;
    }

  private:
    std::vector<Datagram> storage_;
    const std::size_t wake_batch_;  // filled datagrams that wake a waiting parser
    std::mutex mutex_;
    std::condition_variable_any freed_;  // _any: the receiver's wait ends on a stop request
    std::condition_variable published_;
    std::vector<Datagram*> free_;
    std::deque<Datagram*> filled_;
    bool finished_ = false;
    std::optional<ConntrackError> receive_error_;
};

// One whole datagram into `datagram`; the error number on failure. MSG_TRUNC makes recv
// report the datagram's real length, so one that did not fit is an error, not a silently
// cut message.
int receive_datagram(int fd, Datagram& datagram) {
    while (true) {
        const ssize_t received =
            ::recv(fd, datagram.bytes.data(), datagram.bytes.size(), MSG_TRUNC);
        if (received < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (static_cast<std::size_t>(received) > datagram.bytes.size()) return ENOSPC;
        datagram.length = static_cast<std::size_t>(received);
        return 0;
    }
}

// Whether the datagram carries the end of dump `sequence`. The receiver checks this itself
// (the headers only) so that it knows when to stop without waiting for the parser.
bool ends_dump(const Datagram& datagram, std::uint32_t sequence) {
    const auto* header = reinterpret_cast<const nlmsghdr*>(datagram.bytes.data());
    int remaining = static_cast<int>(datagram.length);
    while (message_fits(header, remaining)) {
        if (header->nlmsg_seq == sequence &&
            (header->nlmsg_type == NLMSG_DONE || header->nlmsg_type == NLMSG_ERROR))
            return true;
        header = mnl_nlmsg_next(header, &remaining);
    }
    return false;
}

// The receiving thread. After a stop request (the parser's thread is unwinding) it still
// reads the dump to its end, into a buffer of its own, so that the socket stays usable.
void receive_until_done(int fd, std::uint32_t sequence, std::string_view what,
                        std::size_t buffer_size, DatagramPool& pool, std::stop_token stop) {
    std::optional<ConntrackError> error;
    std::optional<Datagram> discard;
    while (true) {
        Datagram* datagram = pool.take_free(stop);
        const bool pooled = datagram != nullptr;
        if (!pooled) {
            if (!discard) discard.emplace(Datagram{std::vector<char>(buffer_size), 0});
            datagram = &*discard;
        }
        if (const int failed = receive_datagram(fd, *datagram); failed != 0) {
            error = errno_error("reading", what, failed);
            if (pooled) pool.give_back(datagram);
            break;
        }
        const bool last = ends_dump(*datagram, sequence);
        if (pooled) pool.publish(datagram);
        if (last) break;
    }
    pool.finish(std::move(error));
}

}  // namespace

std::expected<ReceivedMessages, ConntrackError> receive_messages(mnl_socket* socket,
                                                                 std::vector<char>& buffer,
                                                                 std::size_t max_messages,
                                                                 mnl_cb_t callback, void* data,
                                                                 std::string_view what) {
    auto failed = [&](std::string_view doing) {
        return std::unexpected(errno_error(doing, what, errno));
    };
    ReceivedMessages out;
    for (std::size_t i = 0; i < max_messages; ++i) {
        const ssize_t received = mnl_socket_recvfrom(socket, buffer.data(), buffer.size());
        if (received < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                out.drained = true;
                break;
            }
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {
                // Reported once per overflow; what is still queued is readable after it.
                out.overflow = true;
                continue;
            }
            return failed("reading");
        }
        // Multicast messages carry sequence 0 and the kernel's port id 0: no filtering on
        // either.
        const int result =
            mnl_cb_run(buffer.data(), static_cast<std::size_t>(received), 0, 0, callback, data);
        if (result < 0 && errno != EPROTO && errno != ESRCH) return failed("parsing");
    }
    return out;
}

std::expected<void, ConntrackError> receive_dump(int fd, std::uint32_t sequence,
                                                 std::uint32_t port_id, mnl_cb_t callback,
                                                 void* data, std::string_view what,
                                                 DumpReceiveOptions options) {
    DatagramPool pool(std::max<std::size_t>(options.buffers, 1), options.buffer_size);
    // Declared after the pool: on the way out (also by an exception from `callback`) the
    // receiver is stopped and joined before the pool goes.
    std::jthread receiver([&](std::stop_token stop) {
        receive_until_done(fd, sequence, what, options.buffer_size, pool, std::move(stop));
    });

    std::optional<ConntrackError> parse_error;
    bool done = false;
    while (Datagram* datagram = pool.take_filled()) {
        // After the end or a failure the rest is only drained.
        if (!done && !parse_error) {
            const int result = mnl_cb_run(datagram->bytes.data(), datagram->length, sequence,
                                          port_id, callback, data);
            if (result == MNL_CB_STOP)
                done = true;
            else if (result < 0)
                parse_error = errno_error("reading", what, errno);
        }
        pool.give_back(datagram);
    }
    if (auto receive_error = pool.receive_error()) return std::unexpected(*receive_error);
    if (parse_error) return std::unexpected(*parse_error);
    if (!done)  // the receiver saw the end, mnl_cb_run did not (a malformed last datagram)
        return std::unexpected(ConntrackError{fmt::format("reading {}: no end", what), EPROTO});
    return {};
}

}  // namespace natctl::netlink
