// What natctld knows of its HA peer: its metrics endpoint, read every two seconds, says its
// role, model revision and model digest (natctl_ha_role, natctl_revision,
// natctl_ha_model_info), so that a pair whose models drifted apart shows in both nodes'
// status and metrics.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

namespace natctl::daemon {

struct PeerState {
    bool reachable = false;
    std::optional<std::time_t> last_seen;  // last successful read
    std::string error;                     // of the last read, when it failed
    std::string role;
    std::optional<std::uint64_t> revision;
    std::string digest;
};

// Reads the fields of PeerState from a Prometheus text exposition.
PeerState parse_peer_metrics(std::string_view text);

class PeerWatcher {
  public:
    PeerWatcher(boost::asio::io_context& io, boost::asio::ip::tcp::endpoint endpoint);
    ~PeerWatcher();
    PeerWatcher(const PeerWatcher&) = delete;
    PeerWatcher& operator=(const PeerWatcher&) = delete;

    void start();
    void stop();
    const PeerState& state() const { return state_; }
    const boost::asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }

  private:
    struct Poll;
    void poll();
    void schedule();

    boost::asio::io_context& io_;
    boost::asio::ip::tcp::endpoint endpoint_;
    boost::asio::steady_timer timer_;
    std::shared_ptr<Poll> current_;
    PeerState state_;
    bool stopped_ = false;
};

}  // namespace natctl::daemon
