// The accounting as natctld runs it: a conntrack event socket, a dump socket for the first
// dump and every re-dump, and the Tracker between them, all driven by one worker thread of
// their own. A dump of 200k entries takes most of a second; on the daemon's event loop it
// stalled every API request for that long, so nothing here runs on the io_context. Other
// threads read the counts through Tracker::read(). A failed dump is retried every second.
#pragma once

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

    struct Impl;
    // For start() (Impl is private to live.cpp).
    explicit LiveAccounting(std::unique_ptr<Impl> impl);

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace natctl::conntrack
