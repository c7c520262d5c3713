// The daemon's side of the session log: hands the recorder (which runs on the conntrack
// worker thread) the names of the model after every new revision, checked every 100 ms,
// and reopens the log file on SIGHUP (after logrotate). The DNAT entries' names follow the
// API's one-entry changes as they are made (on_change): rebuilding them per revision
// took ~18 ms of the API's thread at 100k entries; a whole-model write rebuilds them. SIGTERM /
// SIGINT end both waits so that io_context::run() can return.
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
#include "controller/conntrack/naming.hpp"
#include "controller/conntrack/session_log.hpp"
#include "controller/daemon/config.hpp"
#include "controller/model/change.hpp"
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
    // A change committed as `revision` through the API's fast paths (api::Service's
    // observer): `dnat_change`, or a change that left every DNAT entry as it was (null).
    void on_change(const model::DnatEntryChange* dnat_change, std::uint64_t revision);

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
    // The DNAT entry names of revision dnat_names_revision_, patched change by change.
    std::optional<conntrack::DnatEntryNames> dnat_names_;
    std::optional<std::uint64_t> dnat_names_revision_;
    bool stopped_ = false;
};

}  // namespace natctl::daemon
