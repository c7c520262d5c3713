#include "controller/daemon/daemon.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <unistd.h>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "cli/version.hpp"
#include "controller/api/ports.hpp"
#include "controller/api/service.hpp"
#include "controller/conntrack/live.hpp"
#include "controller/daemon/config.hpp"
#include "controller/daemon/data_plane.hpp"
#include "controller/daemon/ha.hpp"
#include "controller/daemon/host_monitor.hpp"
#include "controller/daemon/http_server.hpp"
#include "controller/daemon/kernel_watcher.hpp"
#include "controller/daemon/reload.hpp"
#include "controller/daemon/session_log_upkeep.hpp"
#include "controller/metrics/budget.hpp"
#include "controller/metrics/conntrack.hpp"
#include "controller/metrics/daemon.hpp"
#include "controller/metrics/registry.hpp"
#include "controller/store/store.hpp"
#include "netlink/conntrack_socket.hpp"
#include "netlink/nft_probe.hpp"
#include "netlink/nft_socket.hpp"
#include "netlink/route_socket.hpp"

namespace natctl::daemon {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A failed reconcile against the stored model is retried, backing off to this.
constexpr auto kMaxRetryDelay = 30s;
constexpr auto kFirstRetryDelay = 250ms;
// How long a stop waits for in-flight requests before leaving anyway.
constexpr auto kStopGrace = 10s;

std::string describe_change(const engine::KernelChange& change) {
    const auto& s = change.summary;
    auto count = [&](const char* key) { return s.value(key, std::size_t{0}); };
    return fmt::format("sets +{} -{}, chains +{} ~{} -{}, elements +{} -{}, route ops {}{}{}",
                       count("sets_added"), count("sets_removed"), count("chains_added"),
                       count("chains_rewritten"), count("chains_removed"), count("elements_added"),
                       count("elements_removed"), count("route_operations"),
                       s.value("table_created", false) ? ", table created" : "",
                       s.value("table_rebuilt", false) ? ", table rebuilt" : "");
}

class Daemon {
  public:
    Daemon(asio::io_context& io, store::Store& store, ReconcilerDataPlane& data_plane,
           api::Service& service, DaemonConfig config, const DaemonOptions& options,
           HttpSite metrics, boost::asio::ip::tcp::endpoint metrics_endpoint,
           netlink::OwnSockets own_sockets, HostMonitor& host)
        : io_(io),
          store_(store),
          data_plane_(data_plane),
          config_(config),
          options_(options),
          api_(api_site(service)),
          metrics_(std::move(metrics)),
          metrics_endpoint_(metrics_endpoint),
          server_(io),
          host_(host),
          watcher_(
              io, [this](std::string_view what) { on_kernel_event(what); }, own_sockets),
          signals_(io, SIGTERM, SIGINT, SIGHUP),
          repair_timer_(io),
          resync_timer_(io),
          watchdog_timer_(io),
          stop_timer_(io) {
        // An API write that lost the kernel's answer: reconcile as after a kernel change.
        data_plane_.set_repair_request(
            [this] { on_kernel_event("an API write whose outcome in the kernel is unknown"); });
    }
    ~Daemon() { data_plane_.set_repair_request({}); }

    std::expected<void, std::string> start(bool startup_in_sync) {
        wait_signal();
        if (auto watching = watcher_.start(); !watching) {
            // Without notifications drift is still repaired, just later (periodic resync).
            spdlog::error("kernel change notifications unavailable: {}", watching.error());
        }
        if (!startup_in_sync) schedule_repair(ReconcileCause::Startup, retry_delay_);
        host_.start();
        arm_resync();
        if (auto listening = server_.listen(options_.socket, std::move(api_)); !listening)
            return listening;
        auto listening = server_.listen(metrics_endpoint_, std::move(metrics_));
        if (!listening) return std::unexpected(listening.error());
        auto at = *listening;
        spdlog::info("metrics on {}:{} (GET /metrics)", at.address().to_string(), at.port());
        spdlog::info("listening on {} (revision {}, state {})", options_.socket.string(),
                     store_.revision(), options_.state_dir.string());
        std::uint64_t usec = 0;
        if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
            watchdog_interval_ = std::chrono::microseconds(usec / 2);
            ping_watchdog();
        }
        record_reload({});
        sd_notifyf(0, "READY=1\nSTATUS=serving revision %llu",
                   static_cast<unsigned long long>(store_.revision()));
        return {};
    }

  private:
    void wait_signal() {
        signals_.async_wait([this](const boost::system::error_code& error, int signal) {
            if (error) return;
            if (signal == SIGHUP) {
                reload();
                wait_signal();
                return;
            }
            stop(signal);
        });
    }

    void stop(int signal) {
        spdlog::info("signal {}: stopping; the data plane stays in place", signal);
        sd_notify(0, "STOPPING=1");
        stopping_ = true;
        server_.stop();
        watcher_.stop();
        host_.stop();
        signals_.cancel();
        repair_timer_.cancel();
        resync_timer_.cancel();
        watchdog_timer_.cancel();
        stop_deadline_ = std::chrono::steady_clock::now() + kStopGrace;
        wait_for_connections();
    }

    // io_context::run() returns by itself once the last connection closed; the deadline
    // only guards against a client that never finishes sending its request.
    void wait_for_connections() {
        if (server_.connections() == 0) return;
        if (std::chrono::steady_clock::now() >= stop_deadline_) {
            spdlog::warn("{} connection(s) still open after {}s; leaving anyway",
                         server_.connections(), kStopGrace.count());
            io_.stop();
            return;
        }
        stop_timer_.expires_after(50ms);
        stop_timer_.async_wait([this](const boost::system::error_code& error) {
            if (!error) wait_for_connections();
        });
    }

    // RELOADING=1 ... READY=1 for systemd, and the outcome for `natctld --reload`
    // (reload.hpp), which systemd's ExecReload waits on.
    void reload() {
        sd_notifyf(
            0, "RELOADING=1\nMONOTONIC_USEC=%llu",
            static_cast<unsigned long long>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::steady_clock::now().time_since_epoch())
                                                .count()));
        auto next = load_daemon_config(options_.config);
        if (!next) {
            spdlog::error("SIGHUP: keeping the current settings: {}", next.error());
            record_reload(next.error());
            sd_notify(0, "READY=1");
            return;
        }
        if (next->revisions_kept != config_.revisions_kept ||
            next->compact_after_records != config_.compact_after_records)
            spdlog::warn("SIGHUP: revisions_kept / compact_after_records take effect at restart");
        spdlog::set_level(next->log_level);
        bool resync_changed = next->resync_interval != config_.resync_interval;
        config_ = *next;
        if (resync_changed) arm_resync();
        host_.set_mode(config_.host_settings);
        spdlog::info("SIGHUP: settings re-read from {}",
                     options_.config.empty() ? "(defaults)" : options_.config.string());
        record_reload({});
        sd_notify(0, "READY=1");
    }

    void record_reload(std::string refused) {
        ReloadRecord record{::getpid(), reloads_++, std::move(refused)};
        if (auto written = write_reload_record(reload_record_path(options_.socket), record);
            !written)
            spdlog::warn("reload record: {}", written.error());
    }

    void on_kernel_event(std::string_view what) {
        if (stopping_ || repair_pending_) return;
        spdlog::debug("kernel change: {}", what);
        schedule_repair(ReconcileCause::Drift, config_.drift_debounce);
    }

    void schedule_repair(ReconcileCause cause, std::chrono::milliseconds delay) {
        repair_pending_ = true;
        repair_timer_.expires_after(delay);
        repair_timer_.async_wait([this, cause](const boost::system::error_code& error) {
            if (error) return;
            repair_pending_ = false;
            reconcile(cause);
        });
    }

    void reconcile(ReconcileCause cause) {
        auto result = data_plane_.reconcile(store_.current(), cause);
        if (!result) {
            spdlog::error("{} reconcile to revision {} failed (retrying in {} ms): {}",
                          to_string(cause), store_.revision(), retry_delay_.count(),
                          util::describe(result.error()));
            schedule_repair(cause, retry_delay_);
            retry_delay_ = std::min<std::chrono::milliseconds>(retry_delay_ * 2, kMaxRetryDelay);
            return;
        }
        retry_delay_ = kFirstRetryDelay;
        if (result->changed)
            spdlog::warn(
                "{}: the kernel had drifted from revision {}; repaired ({}); {} repairs so far",
                to_string(cause), store_.revision(), describe_change(*result),
                data_plane_.drift_repairs());
        else
            spdlog::debug("{}: kernel matches revision {}", to_string(cause), store_.revision());
    }

    void arm_resync() {
        resync_timer_.cancel();
        if (config_.resync_interval.count() == 0) return;
        resync_timer_.expires_after(config_.resync_interval);
        resync_timer_.async_wait([this](const boost::system::error_code& error) {
            if (error) return;
            if (!repair_pending_) reconcile(ReconcileCause::Resync);
            arm_resync();
        });
    }

    void ping_watchdog() {
        sd_notify(0, "WATCHDOG=1");
        watchdog_timer_.expires_after(watchdog_interval_);
        watchdog_timer_.async_wait([this](const boost::system::error_code& error) {
            if (!error) ping_watchdog();
        });
    }

    asio::io_context& io_;
    store::Store& store_;
    ReconcilerDataPlane& data_plane_;
    DaemonConfig config_;
    const DaemonOptions& options_;
    HttpSite api_;
    HttpSite metrics_;
    boost::asio::ip::tcp::endpoint metrics_endpoint_;
    HttpServer server_;
    HostMonitor& host_;
    KernelEventWatcher watcher_;
    asio::signal_set signals_;
    asio::steady_timer repair_timer_;
    asio::steady_timer resync_timer_;
    asio::steady_timer watchdog_timer_;
    asio::steady_timer stop_timer_;
    std::chrono::microseconds watchdog_interval_{0};
    std::chrono::milliseconds retry_delay_ = kFirstRetryDelay;
    std::chrono::steady_clock::time_point stop_deadline_;
    std::uint64_t reloads_ = 0;
    bool repair_pending_ = false;
    bool stopping_ = false;
};

// Declared after the conntrack accounting: stops the purges' worker, which reads it, before
// the accounting is destroyed.
struct DeferredPurgesStop {
    ReconcilerDataPlane& data_plane;
    ~DeferredPurgesStop() { data_plane.stop_deferring_conntrack_purges(); }
};

}  // namespace

int run_daemon(const DaemonOptions& options) {
    auto config = load_daemon_config(options.config);
    if (!config) {
        spdlog::critical("config: {}", config.error());
        return 1;
    }
    spdlog::set_level(config->log_level);
    auto metrics_endpoint = parse_listen_address(options.metrics);
    if (!metrics_endpoint) {
        spdlog::critical("--metrics {}", metrics_endpoint.error());
        return 1;
    }
    auto store = store::Store::open(
        options.state_dir,
        store::StoreOptions{config->revisions_kept, config->compact_after_records});
    if (!store) {
        // Never start from an empty model over a state we cannot read: the kernel still
        // holds the last good data plane, and an empty model would tear it down.
        spdlog::critical("state {}: {}", options.state_dir.string(), store.error());
        return 1;
    }
    auto nft = netlink::NftSocket::open();
    if (!nft) {
        spdlog::critical("nftables netlink socket: {}", nft.error().message);
        return 1;
    }
    auto routes = netlink::RouteSocket::open();
    if (!routes) {
        spdlog::critical("rtnetlink socket: {}", routes.error());
        return 1;
    }
    // Once, at start-up: the kernel's modules do not change under a running daemon.
    auto probed = netlink::probe_kernel_features();
    KernelFeatures features{probed.flowtable, probed.flowtable_message};
    spdlog::info("kernel features: {}", features.message);
    auto conntrack = netlink::ConntrackSocket::open();
    if (!conntrack) {
        spdlog::critical("conntrack netlink socket: {}", conntrack.error().message);
        return 1;
    }
    // The purges after API writes run on a worker thread with a socket of their own (handed
    // over below, once the conntrack accounting they read runs).
    auto purge_conntrack = netlink::ConntrackSocket::open();
    if (!purge_conntrack)
        spdlog::error("API writes will purge conntrack before they answer: {}",
                      purge_conntrack.error().message);
    ReconcilerDataPlane data_plane(**nft, *routes, &*conntrack, features);
    // Before the start-up reconcile, so that it counts as an apply. Conntrack accounting
    // and others add their series with registry.add_collector.
    metrics::Registry registry;
    metrics::DaemonMetrics daemon_metrics(
        registry, cli::kVersion,
        {[&store] { return (*store)->revision(); }, [&data_plane] { return data_plane.in_sync(); },
         [&data_plane] { return data_plane.drift_repairs(); }});
    registry.add_collector([&data_plane](metrics::Exposition& out) {
        auto stats = data_plane.purge_stats();
        if (!stats) return;
        out.counter("natctl_conntrack_purged_total",
                    "Stale conntrack entries deleted by the purges that follow API writes.", {},
                    static_cast<double>(stats->purged_total));
        out.counter("natctl_conntrack_purge_failures_total",
                    "Purges following API writes that failed (retried by the next write or "
                    "resync).",
                    {}, static_cast<double>(stats->failures_total));
        constexpr auto kPurgesHelp =
            "Purges following API writes by where they read the NAT'd entries: the conntrack "
            "accounting's tracker, or a dump when the tracker could not vouch for them.";
        out.counter("natctl_conntrack_purges_total", kPurgesHelp, {{"source", "tracker"}},
                    static_cast<double>(stats->from_tracker));
        out.counter("natctl_conntrack_purges_total", kPurgesHelp, {{"source", "dump"}},
                    static_cast<double>(stats->from_dump));
    });
    data_plane.set_apply_observer([&daemon_metrics](bool ok, std::chrono::duration<double> took) {
        daemon_metrics.record_apply(ok, took);
    });
    // High availability: a node that was not the primary holds new connections from its
    // first apply on (docs/HA.md).
    if (config->ha)
        data_plane.hold_new_flows_from_start(restore_ha_role(options.state_dir) != HaRole::Primary);
    // Minimal diffs against what the kernel holds: nothing is flushed, so connections
    // through a data plane left by a previous run (or a crash) keep flowing.
    auto startup = data_plane.reconcile((*store)->current(), ReconcileCause::Startup);
    if (startup)
        spdlog::info("start-up: kernel reconciled to revision {} ({})", (*store)->revision(),
                     describe_change(*startup));
    else
        spdlog::error("start-up: reconciling to revision {} failed (will retry): {}",
                      (*store)->revision(), util::describe(startup.error()));

    api::Service service(**store, data_plane);
    // Declared after the store, sockets and service its handlers use, and before the
    // daemon's sockets and timers, which must go before it.
    asio::io_context io(1);
    // Conntrack accounting (GET /v1/ports, /v1/sessions, metrics) and the session log: own
    // sockets and worker thread (session_log_upkeep.hpp, controller/conntrack/live.hpp).
    auto recorder = open_session_recorder(*config);
    if (!recorder) {
        spdlog::critical("config: {}", recorder.error());
        return 1;
    }
    auto refusals = netlink::NflogSocket::open();
    if (!refusals)
        spdlog::error("refused connections will not be logged: NFLOG {}", refusals.error().message);
    conntrack::LiveOptions live{config->conntrack_event_buffer_bytes, recorder->get()};
    if (refusals) live.watches.push_back(refusal_watch(*refusals, **recorder));
    auto current_model = [&store]() -> const model::Model& { return (*store)->current(); };
    SessionLogUpkeep session_log(
        io, **recorder, [&store] { return (*store)->revision(); }, current_model);
    session_log.start();
    service.set_change_observer(
        [&session_log](const model::DnatEntryChange* dnat_change, std::uint64_t revision) {
            session_log.on_change(dnat_change, revision);
        });
    auto accounting = conntrack::LiveAccounting::start(std::move(live));
    if (accounting) {
        service.set_conntrack(&(*accounting)->tracker());
        metrics::add_conntrack_metrics(registry,
                                       {&(*accounting)->tracker(), current_model, recorder->get()});
    } else {
        spdlog::error("conntrack accounting unavailable: {}", accounting.error());
    }
    // The purges read the accounting's entries rather than dump (controller/conntrack/purger.hpp);
    // the data plane outlives the accounting, so the guard stops the purges' worker first.
    if (purge_conntrack)
        data_plane.defer_conntrack_purges(
            *purge_conntrack, accounting ? conntrack::tracked_nat_entries(**accounting) : nullptr);
    const DeferredPurgesStop stop_purges_before_accounting{data_plane};
    // One reader of the budget counters for the metrics and GET /v1/ports alike.
    auto budget_counters = std::make_shared<metrics::BudgetCounters>(
        metrics::BudgetSources{current_model, [&store] { return (*store)->revision(); }});
    metrics::add_budget_metrics(registry, budget_counters);
    service.set_budget_counts([budget_counters] { return budget_counters->read(); });
    service.add_status_section("eip_traffic", [budget_counters] {
        auto counts = budget_counters->read();
        return counts ? api::eip_traffic_json(*counts, budget_counters->model(), std::nullopt)
                      : nlohmann::json();
    });
    std::unique_ptr<HaController> ha;
    if (config->ha) {
        ha =
            std::make_unique<HaController>(io, *config->ha, options.state_dir, data_plane, **store);
        ha->add_metrics(registry);
        service.add_extension(
            [&ha](const api::HttpRequest& request) { return ha->handle(request); });
        ha->start();
    }
    HostMonitor host(io, current_model, config->host_settings);
    service.add_status_section("host", [&host] { return host.status(); });
    Daemon daemon(io, **store, data_plane, service, *config, options,
                  metrics_site([&registry] { return registry.render(); }), *metrics_endpoint,
                  netlink::OwnSockets{(*nft)->port_id(), routes->port_id()}, host);
    if (auto started = daemon.start(startup.has_value()); !started) {
        spdlog::critical("{}", started.error());
        return 1;
    }
    io.run();
    spdlog::info("stopped");
    return 0;
}

}  // namespace natctl::daemon
