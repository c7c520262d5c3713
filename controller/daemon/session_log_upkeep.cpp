#include "controller/daemon/session_log_upkeep.hpp"

#include <chrono>
#include <csignal>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace natctl::daemon {
namespace {

// A revision compare per tick; names are handed over only when it changed. Sessions that
// start within this long of a change are named with the previous model.
constexpr auto kRefreshInterval = std::chrono::milliseconds(100);

}  // namespace

std::expected<std::unique_ptr<conntrack::SessionRecorder>, std::string> open_session_recorder(
    const DaemonConfig& config) {
    if (!config.session_log_file)
        return std::make_unique<conntrack::SessionRecorder>(
            std::make_unique<conntrack::JournalSink>());
    const auto& file = *config.session_log_file;
    std::error_code error;
    std::filesystem::create_directories(file.path.parent_path(), error);
    if (error)
        return std::unexpected(fmt::format("session_log.path: creating {}: {}",
                                           file.path.parent_path().string(), error.message()));
    auto sink = conntrack::RotatingFileSink::open(file.path, file.max_bytes, file.keep);
    if (!sink) return std::unexpected(fmt::format("session_log.path: {}", sink.error()));
    return std::make_unique<conntrack::SessionRecorder>(std::move(*sink));
}

conntrack::LiveOptions::Watch refusal_watch(netlink::NflogSocket& socket,
                                            conntrack::SessionRecorder& recorder) {
    return {socket.fd(), [&socket, &recorder] {
                // Bounded, like the conntrack events: the worker gets back to them soon.
                auto batch = socket.read(256);
                if (!batch) {
                    spdlog::error("refused connections: {}", batch.error().message);
                    return;
                }
                recorder.on_refused(*batch);
            }};
}

SessionLogUpkeep::SessionLogUpkeep(boost::asio::io_context& io,
                                   conntrack::SessionRecorder& recorder,
                                   std::function<std::uint64_t()> revision,
                                   std::function<const model::Model&()> model)
    : recorder_(recorder),
      revision_(std::move(revision)),
      model_(std::move(model)),
      timer_(io),
      signals_(io, SIGHUP, SIGTERM, SIGINT) {}

void SessionLogUpkeep::start() {
    refresh();
    arm();
    wait_signal();
}

void SessionLogUpkeep::on_change(const model::DnatEntryChange* dnat_change,
                                 std::uint64_t revision) {
    if (!dnat_names_ || !dnat_names_revision_ || *dnat_names_revision_ + 1 != revision) return;
    if (!dnat_change || dnat_names_->apply(*dnat_change))
        dnat_names_revision_ = revision;
    else
        dnat_names_.reset();  // refresh() rebuilds
}

void SessionLogUpkeep::refresh() {
    const auto revision = revision_();
    if (named_revision_ == revision) return;
    if (dnat_names_revision_ != revision) {
        dnat_names_.emplace(model_());
        dnat_names_revision_ = revision;
    }
    recorder_.set_names(std::make_shared<const conntrack::SessionNames>(model_(), *dnat_names_));
    named_revision_ = revision;
}

void SessionLogUpkeep::arm() {
    timer_.expires_after(kRefreshInterval);
    timer_.async_wait([this](const boost::system::error_code& error) {
        if (error || stopped_) return;
        refresh();
        arm();
    });
}

void SessionLogUpkeep::wait_signal() {
    signals_.async_wait([this](const boost::system::error_code& error, int signal) {
        if (error) return;
        if (signal == SIGHUP) {
            recorder_.request_reopen();
            wait_signal();
            return;
        }
        stopped_ = true;
        timer_.cancel();
    });
}

}  // namespace natctl::daemon
