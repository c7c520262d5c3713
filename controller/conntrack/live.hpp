// The accounting as natctld runs it: a conntrack event socket, a dump socket for the first
// dump and every re-dump, and the Tracker between them, all driven by one worker thread of
// their own. A dump of 200k entries takes most of a second; on the daemon's event loop it
// stalled every API request for that long, so nothing here runs on the io_context. Other
// threads read the counts through Tracker::read(). A failed dump is retried every second;
// until then the event socket is left unread (the dump discards its queue anyway) and the
// other watches are still served.
//
// catch_up() is a barrier for readers that must not act on an older picture than the
// kernel's at the time of the call (the conntrack purge after an API write): the worker,
// woken through its eventfd, reads the event socket until it is empty and only then
// answers, so every event the kernel queued before the call has been applied (an ENOBUFS
// on the way means a re-dump, which satisfies the barrier too). Out of sync it fails at
// once rather than hasten the dump's retry. It cannot see entries the kernel has not
// confirmed yet (no event was sent for them): the same limit a dump has.
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "controller/conntrack/tracker.hpp"

namespace natctl::conntrack {

struct LiveOptions {
    // The event socket's buffer in bytes (natctld's conntrack_event_buffer_bytes); 0 takes
    // the 32 MiB default.
    std::size_t receive_buffer = 0;
    // Told of every event on the worker thread (the session log); may be null.
    TrackerObserver* observer = nullptr;
    // Other sockets the worker thread serves (the NFLOG reader of refused connections),
    // so that everything the session log writes comes from one thread.
    struct Watch {
        int fd = -1;
        std::function<void()> on_readable;
    };
    std::vector<Watch> watches;
};

class LiveAccounting {
  public:
    // Opens the sockets in the calling thread's network namespace and starts the worker,
    // which dumps first. Errors: the sockets could not be opened.
    static std::expected<std::unique_ptr<LiveAccounting>, std::string> start(LiveOptions options);
    // Stops and joins the worker.
    ~LiveAccounting();
    LiveAccounting(const LiveAccounting&) = delete;
    LiveAccounting& operator=(const LiveAccounting&) = delete;

    const Tracker& tracker() const;

    // From any thread: returns once every conntrack event queued on the event socket before
    // the call has been applied to tracker(). Fails, rather than answer for a picture it
    // cannot vouch for, when the tracker is not in sync (no dump succeeded yet, or the last
    // one failed), when the accounting is stopping, or after `timeout`.
    std::expected<void, std::string> catch_up(
        std::chrono::milliseconds timeout = std::chrono::seconds(1));

    struct Impl;
    // For start() (Impl is private to live.cpp).
    explicit LiveAccounting(std::unique_ptr<Impl> impl);

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace natctl::conntrack
