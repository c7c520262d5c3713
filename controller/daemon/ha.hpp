// natctld's active/standby high availability (docs/HA.md). keepalived (VRRP) decides which
// node is primary and moves the EIPs and the inside gateway address; its notify script
// tells natctld (`natctl ha primary|backup|fault` → PUT /v1/ha/role). natctld keeps the
// HA gate closed unless it is the primary and runs conntrackd's client commands in the
// order of conntrackd's primary-backup.sh:
//   primary: close the gate; commit the external cache (the peer's connections) into the
//            kernel; open the gate; flush the internal cache; resync it from the kernel;
//            send a bulk update to the peer.
//   backup:  close the gate; shorten the kernel timers of leftover entries; ask the peer
//            for a resync.
//   fault:   close the gate; shorten the kernel timers.
// The last role is kept in the state directory, so that a restarted natctld on the
// primary does not hold new connections until keepalived's next transition.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "controller/api/service.hpp"
#include "controller/daemon/conntrackd_client.hpp"
#include "controller/daemon/data_plane.hpp"
#include "controller/daemon/ha_peer.hpp"
#include "controller/daemon/ha_settings.hpp"
#include "controller/daemon/keepalived_fifo.hpp"
#include "controller/metrics/registry.hpp"
#include "controller/store/store.hpp"

namespace natctl::daemon {

enum class HaRole : std::uint8_t { Unknown, Primary, Backup, Fault };
const char* to_string(HaRole role);
std::optional<HaRole> parse_ha_role(std::string_view text);

// What `conntrackd -s` says about its caches and the sync link.
struct ConntrackdStats {
    std::optional<std::uint64_t> internal_entries;  // this node's connections
    std::optional<std::uint64_t> external_entries;  // the peer's, ready to commit
    std::optional<std::uint64_t> lost_messages;     // sync messages lost on the link
    std::optional<std::uint64_t> malformed_messages;
    std::optional<std::uint64_t> send_errors;
    std::optional<std::uint64_t> receive_errors;
};
ConntrackdStats parse_conntrackd_stats(std::string_view text);

// The role a keepalived state stands for (MASTER → primary, BACKUP → backup, FAULT and
// STOP → fault: a stopped keepalived no longer holds the addresses); nullopt for others.
std::optional<HaRole> role_of_keepalived_state(std::string_view state);

// The role kept in the state directory by the last run; Unknown when none.
HaRole restore_ha_role(const std::filesystem::path& state_dir);

// A stable digest of a model (FNV-1a 64 of its canonical JSON), to compare two nodes'.
std::string model_digest(const model::Model& model);

class HaController {
  public:
    HaController(boost::asio::io_context& io, HaSettings settings, std::filesystem::path state_dir,
                 ReconcilerDataPlane& data_plane, store::Store& store);
    ~HaController();
    HaController(const HaController&) = delete;
    HaController& operator=(const HaController&) = delete;

    bool holds_new_flows() const { return role_ != HaRole::Primary; }

    void start();
    void stop();

    // keepalived's word. Runs the steps of the role change (blocking: a takeover answers
    // once the peer's connections are committed and the gate is open).
    nlohmann::json change_role(HaRole role, const std::string& source);
    nlohmann::json status();
    // GET /v1/ha, PUT /v1/ha/role.
    std::optional<api::HttpResponse> handle(const api::HttpRequest& request);
    void add_metrics(metrics::Registry& registry);

  private:
    struct Step {
        std::string name;
        std::optional<ConntrackdRequest> request;  // none: a gate change
        bool ok = false;
        std::string detail;
        std::chrono::duration<double> took{0};
    };
    Step run_conntrackd(std::string name, ConntrackdRequest request);
    void on_keepalived_notice(const KeepalivedNotice& notice);
    Step set_gate(bool hold);
    void refresh_conntrackd_stats();
    void schedule_stats();
    const std::string& current_digest();
    void persist_role();

    boost::asio::io_context& io_;
    HaSettings settings_;
    std::filesystem::path role_file_;
    ReconcilerDataPlane& data_plane_;
    store::Store& store_;
    std::unique_ptr<PeerWatcher> peer_;
    std::unique_ptr<KeepalivedFifo> keepalived_fifo_;
    boost::asio::steady_timer stats_timer_;
    // natctld stops when its io_context runs out of work: the timers here must go at the
    // same signal that stops the daemon.
    boost::asio::signal_set stop_signals_;

    HaRole role_ = HaRole::Unknown;
    std::optional<std::time_t> last_change_time_;
    std::string last_change_source_;
    std::optional<std::time_t> last_takeover_time_;
    std::chrono::duration<double> last_takeover_{0};
    std::chrono::duration<double> last_gate_opened_{0};
    std::chrono::duration<double> last_commit_{0};
    std::uint64_t takeovers_ = 0;
    std::uint64_t failed_steps_ = 0;
    nlohmann::json last_steps_ = nlohmann::json::array();

    bool conntrackd_up_ = false;
    std::string conntrackd_error_;
    ConntrackdStats conntrackd_stats_;

    std::optional<std::uint64_t> digest_revision_;
    std::string digest_;
};

}  // namespace natctl::daemon
