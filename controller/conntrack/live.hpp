// The accounting as natctld runs it: a conntrack event socket registered with the daemon's
// io_context, a dump socket for the first dump and every re-dump, and the Tracker between
// them. Everything runs on the io_context's thread, so API handlers on the same thread
// read the counts without locks. A failed dump is retried every second. SIGTERM/SIGINT
// cancel the wait so that io_context::run() can return.
#pragma once

#include <cstddef>
#include <expected>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "controller/conntrack/tracker.hpp"

namespace natctl::conntrack {

class LiveAccounting {
  public:
    // Opens the sockets in the calling thread's network namespace and dumps once.
    // receive_buffer: the event socket's buffer in bytes (natctld's
    // conntrack_event_buffer_bytes setting); 0 takes the 32 MB default.
    static std::expected<std::unique_ptr<LiveAccounting>, std::string> start(
        boost::asio::io_context& io, std::size_t receive_buffer = 0);
    ~LiveAccounting();
    LiveAccounting(const LiveAccounting&) = delete;
    LiveAccounting& operator=(const LiveAccounting&) = delete;

    const Tracker& tracker() const;

    struct Impl;

  private:
    explicit LiveAccounting(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace natctl::conntrack
