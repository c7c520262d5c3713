// The daemon's side of the session log: hands the recorder (which runs on the conntrack
// worker thread) a copy of the model after every new revision, checked every 100 ms so
// that no write path has to know about it, and reopens the log file on SIGHUP (after
// logrotate). SIGTERM / SIGINT end both waits so that io_context::run() can return.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <optional>

#include <expected>
#include <memory>
#include <string>

#include "controller/conntrack/live.hpp"
#include "controller/conntrack/session_log.hpp"
#include "controller/daemon/config.hpp"
#include "controller/model/types.hpp"
#include "netlink/nflog_socket.hpp"

namespace natctl::daemon {

// The recorder with the sink the settings choose (the file is opened, its directory
// created, here: an unwritable path is an error at start-up, not a silent loss).
std::expected<std::unique_ptr<conntrack::SessionRecorder>, std::string> open_session_recorder(
    const DaemonConfig& config);

// For LiveOptions::watches: reads the refusals queued on `socket` into the recorder.
conntrack::LiveOptions::Watch refusal_watch(netlink::NflogSocket& socket,
                                            conntrack::SessionRecorder& recorder);

class SessionLogUpkeep {
  public:
    SessionLogUpkeep(boost::asio::io_context& io, conntrack::SessionRecorder& recorder,
                     std::function<std::uint64_t()> revision,
                     std::function<const model::Model&()> model);
    // Names sessions with the current model at once, then keeps up.
    void start();

  private:
    void refresh();
    void arm();
    void wait_signal();

    conntrack::SessionRecorder& recorder_;
    std::function<std::uint64_t()> revision_;
    std::function<const model::Model&()> model_;
    boost::asio::steady_timer timer_;
    boost::asio::signal_set signals_;
    std::optional<std::uint64_t> named_revision_;
    bool stopped_ = false;
};

}  // namespace natctl::daemon
