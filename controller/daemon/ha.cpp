#include "controller/daemon/ha.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <csignal>
#include <fstream>
#include <sstream>
#include <utility>

#include "controller/api/http.hpp"
#include "controller/daemon/http_server.hpp"
#include "controller/model/json.hpp"
#include "controller/store/file_io.hpp"

namespace natctl::daemon {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kStatsInterval = 5s;
constexpr auto kStatsTimeout = 2000ms;
constexpr const char* kRoleFile = "ha-role";

std::string utc(std::time_t time) {
    return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(time));
}

json optional_time(const std::optional<std::time_t>& time) {
    return time ? json(utc(*time)) : json(nullptr);
}

template <class T>
json optional_number(const std::optional<T>& value) {
    return value ? json(*value) : json(nullptr);
}

double milliseconds(std::chrono::duration<double> took) {
    return took.count() * 1000.0;
}

// The number that ends `line` before `label` ("    0 Lost msgs" → 0), or that follows
// "label:" ("current active connections:   4" → 4).
std::optional<std::uint64_t> number_before(std::string_view line, std::string_view label) {
    auto at = line.find(label);
    if (at == std::string_view::npos) return std::nullopt;
    auto end = line.find_last_not_of(" \t", at == 0 ? 0 : at - 1);
    if (end == std::string_view::npos) return std::nullopt;
    auto start = line.find_last_of(" \t", end);
    start = start == std::string_view::npos ? 0 : start + 1;
    std::uint64_t value = 0;
    auto [ptr, error] = std::from_chars(line.data() + start, line.data() + end + 1, value);
    if (error != std::errc{}) return std::nullopt;
    return value;
}

std::optional<std::uint64_t> number_after(std::string_view line, std::string_view label) {
    if (!line.starts_with(label)) return std::nullopt;
    auto rest = line.substr(label.size());
    auto start = rest.find_first_not_of(" \t");
    if (start == std::string_view::npos) return std::nullopt;
    std::uint64_t value = 0;
    auto [ptr, error] = std::from_chars(rest.data() + start, rest.data() + rest.size(), value);
    if (error != std::errc{}) return std::nullopt;
    return value;
}

}  // namespace

const char* to_string(HaRole role) {
    switch (role) {
        case HaRole::Unknown:
            return "unknown";
        case HaRole::Primary:
            return "primary";
        case HaRole::Backup:
            return "backup";
        case HaRole::Fault:
            return "fault";
    }
    return "unknown";
}

std::optional<HaRole> parse_ha_role(std::string_view text) {
    for (auto role : {HaRole::Primary, HaRole::Backup, HaRole::Fault})
        if (text == to_string(role)) return role;
    return std::nullopt;
}

ConntrackdStats parse_conntrackd_stats(std::string_view text) {
    ConntrackdStats stats;
    enum class Section { Other, Internal, External } section = Section::Other;
    while (!text.empty()) {
        auto end = text.find('\n');
        auto line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        if (line.starts_with("cache internal:")) section = Section::Internal;
        if (line.starts_with("cache external:")) section = Section::External;
        if (auto active = number_after(line, "current active connections:")) {
            if (section == Section::Internal) stats.internal_entries = active;
            if (section == Section::External) stats.external_entries = active;
        }
        if (auto lost = number_before(line, "Lost msgs")) stats.lost_messages = lost;
        if (auto malformed = number_before(line, "Malformed msgs"))
            stats.malformed_messages = malformed;
        if (auto errors = number_before(line, "Error send")) stats.send_errors = errors;
        if (auto errors = number_before(line, "Error recv")) stats.receive_errors = errors;
    }
    return stats;
}

std::string model_digest(const model::Model& model) {
    std::uint64_t hash = 0xcbf29ce484222325ull;
    for (unsigned char byte : model::to_json(model).dump()) {
        hash ^= byte;
        hash *= 0x100000001b3ull;
    }
    return fmt::format("{:016x}", hash);
}

std::optional<HaRole> role_of_keepalived_state(std::string_view state) {
    if (state == "MASTER") return HaRole::Primary;
    if (state == "BACKUP") return HaRole::Backup;
    if (state == "FAULT" || state == "STOP") return HaRole::Fault;
    return std::nullopt;
}

HaRole restore_ha_role(const std::filesystem::path& state_dir) {
    const auto path = state_dir / kRoleFile;
    std::ifstream in(path);
    std::string word;
    if (!(in >> word)) return HaRole::Unknown;
    if (auto role = parse_ha_role(word)) return *role;
    spdlog::warn("HA: {} holds '{}', not a role; waiting for keepalived", path.string(), word);
    return HaRole::Unknown;
}

HaController::HaController(boost::asio::io_context& io, HaSettings settings,
                           std::filesystem::path state_dir, ReconcilerDataPlane& data_plane,
                           store::Store& store)
    : io_(io),
      settings_(std::move(settings)),
      role_file_(state_dir / kRoleFile),
      data_plane_(data_plane),
      store_(store),
      stats_timer_(io),
      stop_signals_(io, SIGTERM, SIGINT) {
    role_ = restore_ha_role(state_dir);
    if (!settings_.peer_metrics.empty()) {
        auto endpoint = parse_listen_address(settings_.peer_metrics);
        if (endpoint)
            peer_ = std::make_unique<PeerWatcher>(io_, *endpoint);
        else
            spdlog::error("HA: peer_metrics {}; the peer's model is not compared",
                          endpoint.error());
    }
    if (!settings_.keepalived_fifo.empty())
        keepalived_fifo_ = std::make_unique<KeepalivedFifo>(
            io_, settings_.keepalived_fifo,
            [this](const KeepalivedNotice& notice) { on_keepalived_notice(notice); });
}

HaController::~HaController() {
    stop();
}

void HaController::start() {
    spdlog::info("HA: node {} (peer {}), role {} at start; new connections {}", settings_.node,
                 settings_.peer.empty() ? "unnamed" : settings_.peer, to_string(role_),
                 holds_new_flows() ? "held until keepalived makes this node primary" : "flow");
    if (peer_) peer_->start();
    if (keepalived_fifo_) {
        if (auto error = keepalived_fifo_->open())
            spdlog::error("HA: keepalived's notify FIFO: {} (retried every {} s)", *error,
                          kStatsInterval.count());
        else
            spdlog::info("HA: reading keepalived's notify FIFO {}",
                         keepalived_fifo_->path().string());
    }
    stop_signals_.async_wait([this](const boost::system::error_code& error, int) {
        if (!error) stop();
    });
    refresh_conntrackd_stats();
    schedule_stats();
}

void HaController::stop() {
    stats_timer_.cancel();
    stop_signals_.cancel();
    if (peer_) peer_->stop();
    if (keepalived_fifo_) keepalived_fifo_->close();
}

void HaController::on_keepalived_notice(const KeepalivedNotice& notice) {
    const bool followed =
        notice.kind == "INSTANCE" &&
        (settings_.keepalived_instance.empty() || notice.name == settings_.keepalived_instance);
    auto role = role_of_keepalived_state(notice.state);
    spdlog::info("HA: keepalived: {} \"{}\" {} (priority {}){}", notice.kind, notice.name,
                 notice.state, notice.priority, followed && role ? "" : ", not followed");
    if (followed && role) change_role(*role, "keepalived notify FIFO");
}

void HaController::schedule_stats() {
    stats_timer_.expires_after(kStatsInterval);
    stats_timer_.async_wait([this](const boost::system::error_code& error) {
        if (error) return;
        if (keepalived_fifo_) keepalived_fifo_->reopen_if_replaced();
        refresh_conntrackd_stats();
        schedule_stats();
    });
}

void HaController::refresh_conntrackd_stats() {
    if (!settings_.syncs_connections()) return;
    auto answer = conntrackd_request(settings_.conntrackd_socket, ConntrackdRequest::Statistics,
                                     kStatsTimeout);
    conntrackd_up_ = answer.has_value();
    conntrackd_error_ = answer ? std::string() : answer.error();
    conntrackd_stats_ = answer ? parse_conntrackd_stats(answer->text) : ConntrackdStats{};
}

HaController::Step HaController::run_conntrackd(std::string name, ConntrackdRequest request) {
    Step step;
    step.name = std::move(name);
    step.request = request;
    const auto started = std::chrono::steady_clock::now();
    auto answer =
        conntrackd_request(settings_.conntrackd_socket, request, settings_.conntrackd_timeout);
    step.took = std::chrono::steady_clock::now() - started;
    if (!answer) {
        step.detail = answer.error();
        return step;
    }
    step.ok = true;
    step.detail = std::move(answer->text);
    while (!step.detail.empty() && (step.detail.back() == '\n' || step.detail.back() == ' '))
        step.detail.pop_back();
    return step;
}

HaController::Step HaController::set_gate(bool hold) {
    Step step;
    step.name = hold ? "hold new connections" : "let new connections through";
    const auto started = std::chrono::steady_clock::now();
    auto changed = data_plane_.hold_new_flows(hold, store_.current());
    step.took = std::chrono::steady_clock::now() - started;
    step.ok = changed.has_value();
    if (!changed) step.detail = changed.error();
    return step;
}

void HaController::persist_role() {
    if (auto written =
            store::replace_file_atomically(role_file_, std::string(to_string(role_)) + "\n");
        !written)
        spdlog::error("HA: the role is not kept across restarts: {}", written.error());
}

json HaController::change_role(HaRole role, const std::string& source) {
    const auto started = std::chrono::steady_clock::now();
    const auto previous = role_;
    // keepalived may say the same twice (a restart, a reload): a second commit would only
    // hold new connections for its duration.
    if (role == previous && role == HaRole::Primary && !data_plane_.new_flows_held())
        return {{"previous", to_string(previous)},
                {"role", to_string(role)},
                {"ok", true},
                {"unchanged", true},
                {"took_ms", 0},
                {"steps", json::array()}};
    const bool sync = settings_.syncs_connections();
    std::vector<Step> steps;
    std::chrono::duration<double> gate_opened_after{0};
    // Whatever the new role, nothing may create a mapping while the roles move.
    steps.push_back(set_gate(true));
    role_ = role;
    if (role == HaRole::Primary) {
        if (sync) {
            steps.push_back(run_conntrackd("commit the peer's connections",
                                           ConntrackdRequest::CommitExternalCache));
            last_commit_ = steps.back().took;
        }
        // Once the peer's connections are in the kernel nothing needs holding: the rest only
        // rebuilds conntrackd's caches. Opened even when the commit failed: connections it
        // missed are lost either way, and a closed gate would refuse every new connection
        // on the only live node.
        steps.push_back(set_gate(false));
        gate_opened_after = std::chrono::steady_clock::now() - started;
        if (sync) {
            steps.push_back(
                run_conntrackd("flush the internal cache", ConntrackdRequest::FlushInternalCache));
            steps.push_back(run_conntrackd("resync the internal cache from the kernel",
                                           ConntrackdRequest::ResyncFromKernel));
            steps.push_back(
                run_conntrackd("send a bulk update to the peer", ConntrackdRequest::SendBulk));
        }
    } else if (sync) {
        steps.push_back(run_conntrackd("shorten the kernel timers of leftover connections",
                                       ConntrackdRequest::ShortenKernelTimers));
        if (role == HaRole::Backup)
            steps.push_back(
                run_conntrackd("ask the peer for a resync", ConntrackdRequest::RequestPeerResync));
    }
    const auto took = std::chrono::steady_clock::now() - started;
    last_change_time_ = std::time(nullptr);
    last_change_source_ = source;
    if (role == HaRole::Primary && previous != HaRole::Primary) {
        ++takeovers_;
        last_takeover_time_ = last_change_time_;
        last_takeover_ = took;
        last_gate_opened_ = gate_opened_after;
    }
    persist_role();
    bool ok = true;
    last_steps_ = json::array();
    for (const auto& step : steps) {
        if (!step.ok) {
            ok = false;
            ++failed_steps_;
            spdlog::error("HA: {} → {}: {} failed: {}", to_string(previous), to_string(role),
                          step.name, step.detail);
        }
        last_steps_.push_back(
            {{"step", step.name},
             {"command", step.request
                             ? json(fmt::format("conntrackd {}", client_option(*step.request)))
                             : json(nullptr)},
             {"ok", step.ok},
             {"took_ms", milliseconds(step.took)},
             {"detail", step.detail}});
    }
    spdlog::info("HA: {} → {} ({}) in {:.1f} ms{}{}", to_string(previous), to_string(role), source,
                 milliseconds(took),
                 role == HaRole::Primary
                     ? fmt::format(", new connections let through after {:.1f} ms",
                                   milliseconds(gate_opened_after))
                     : std::string(),
                 ok ? "" : " with failed steps");
    refresh_conntrackd_stats();
    return {{"previous", to_string(previous)},
            {"role", to_string(role)},
            {"ok", ok},
            {"took_ms", milliseconds(took)},
            {"steps", last_steps_}};
}

const std::string& HaController::current_digest() {
    if (digest_revision_ != store_.revision()) {
        digest_ = model_digest(store_.current());
        digest_revision_ = store_.revision();
    }
    return digest_;
}

json HaController::status() {
    json local = {{"name", settings_.node},
                  {"role", to_string(role_)},
                  {"revision", store_.revision()},
                  {"digest", current_digest()},
                  {"new_connections_held", data_plane_.new_flows_held()}};
    json peer = {
        {"name", settings_.peer.empty() ? json(nullptr) : json(settings_.peer)},
        {"metrics", settings_.peer_metrics.empty() ? json(nullptr) : json(settings_.peer_metrics)}};
    if (peer_) {
        const auto& seen = peer_->state();
        peer["reachable"] = seen.reachable;
        peer["last_seen"] = optional_time(seen.last_seen);
        peer["error"] = seen.reachable || seen.error.empty() ? json(nullptr) : json(seen.error);
        peer["role"] = seen.role.empty() ? json(nullptr) : json(seen.role);
        peer["revision"] = optional_number(seen.revision);
        peer["digest"] = seen.digest.empty() ? json(nullptr) : json(seen.digest);
        peer["models_match"] =
            seen.digest.empty() ? json(nullptr) : json(seen.digest == current_digest());
    }
    json conntrackd = nullptr;
    if (settings_.syncs_connections())
        conntrackd = {
            {"config", settings_.conntrackd_config.empty()
                           ? json(nullptr)
                           : json(settings_.conntrackd_config.string())},
            {"socket", settings_.conntrackd_socket.string()},
            {"running", conntrackd_up_},
            {"error", conntrackd_error_.empty() ? json(nullptr) : json(conntrackd_error_)},
            {"internal_entries", optional_number(conntrackd_stats_.internal_entries)},
            {"external_entries", optional_number(conntrackd_stats_.external_entries)},
            {"lost_messages", optional_number(conntrackd_stats_.lost_messages)},
            {"malformed_messages", optional_number(conntrackd_stats_.malformed_messages)},
            {"send_errors", optional_number(conntrackd_stats_.send_errors)},
            {"receive_errors", optional_number(conntrackd_stats_.receive_errors)},
        };
    return {
        {"node", std::move(local)},
        {"peer", std::move(peer)},
        {"conntrackd", std::move(conntrackd)},
        {"last_change",
         {{"time", optional_time(last_change_time_)},
          {"source", last_change_source_.empty() ? json(nullptr) : json(last_change_source_)},
          {"steps", last_steps_}}},
        {"last_takeover",
         {{"time", optional_time(last_takeover_time_)},
          {"took_ms", last_takeover_time_ ? json(milliseconds(last_takeover_)) : json(nullptr)},
          {"gate_open_ms",
           last_takeover_time_ ? json(milliseconds(last_gate_opened_)) : json(nullptr)},
          {"commit_ms", last_takeover_time_ ? json(milliseconds(last_commit_)) : json(nullptr)}}},
        {"takeovers", takeovers_},
        {"failed_steps", failed_steps_}};
}

std::optional<api::HttpResponse> HaController::handle(const api::HttpRequest& request) {
    auto target = api::parse_target(request.target);
    if (!target || target->segments.size() < 2 || target->segments[0] != "v1" ||
        target->segments[1] != "ha")
        return std::nullopt;
    const auto& segments = target->segments;
    if (segments.size() == 2) {
        if (request.method != "GET")
            return api::error_response(api::failure(405, "", "GET /v1/ha only"));
        return api::json_response(200, status());
    }
    if (segments.size() == 3 && segments[2] == "role") {
        if (request.method != "PUT")
            return api::error_response(api::failure(405, "", "PUT /v1/ha/role only"));
        auto body = json::parse(request.body, nullptr, false);
        if (body.is_discarded() || !body.is_object() || !body.contains("role") ||
            !body["role"].is_string())
            return api::error_response(
                api::failure(400, "role", "expected {\"role\": \"primary|backup|fault\"}"));
        auto role = parse_ha_role(body["role"].get<std::string>());
        if (!role)
            return api::error_response(
                api::failure(400, "role",
                             fmt::format("unknown role '{}' (primary, backup, fault)",
                                         body["role"].get<std::string>())));
        std::string source = "api";
        if (auto from = body.find("source"); from != body.end() && from->is_string())
            source = from->get<std::string>();
        for (const auto& [key, value] : body.items())
            if (key != "role" && key != "source")
                return api::error_response(api::failure(400, key, "unknown field"));
        auto result = change_role(*role, source);
        return api::json_response(result.value("ok", false) ? 200 : 500, result);
    }
    return api::error_response(
        api::failure(404, "", fmt::format("no such endpoint: {}", target->path)));
}

void HaController::add_metrics(metrics::Registry& registry) {
    registry.add_collector([this](metrics::Exposition& out) {
        for (auto role : {HaRole::Unknown, HaRole::Primary, HaRole::Backup, HaRole::Fault})
            out.gauge("natctl_ha_role", "This node's HA role (1: the current one).",
                      {{"role", to_string(role)}}, role == role_ ? 1 : 0);
        out.gauge("natctl_ha_new_connections_held",
                  "1 while the HA gate drops the first packet of new connections (not a TCP "
                  "SYN).",
                  {}, data_plane_.new_flows_held() ? 1 : 0);
        out.gauge("natctl_ha_model_info",
                  "The digest of this node's model (compare with the peer's); always 1.",
                  {{"digest", current_digest()}}, 1);
        out.counter("natctl_ha_takeovers_total", "Changes of this node to primary.", {},
                    static_cast<double>(takeovers_));
        out.counter("natctl_ha_failed_steps_total",
                    "Steps of role changes that failed (conntrackd commands, the gate).", {},
                    static_cast<double>(failed_steps_));
        if (last_takeover_time_) {
            out.gauge("natctl_ha_last_takeover_timestamp_seconds",
                      "When this node last became primary (Unix time).", {},
                      static_cast<double>(*last_takeover_time_));
            out.gauge("natctl_ha_last_takeover_seconds",
                      "How long the last takeover took, every step included.", {},
                      last_takeover_.count());
            out.gauge("natctl_ha_last_takeover_gate_open_seconds",
                      "How long new connections were held at the last takeover (the gate "
                      "opens once the peer's connections are committed).",
                      {}, last_gate_opened_.count());
            out.gauge("natctl_ha_last_commit_seconds",
                      "How long conntrackd's commit of the peer's connections took at the last "
                      "takeover.",
                      {}, last_commit_.count());
        }
        if (peer_) {
            const auto& seen = peer_->state();
            out.gauge("natctl_ha_peer_up", "1 when the peer's metrics answered the last read.", {},
                      seen.reachable ? 1 : 0);
            if (seen.revision)
                out.gauge("natctl_ha_peer_revision", "The peer's model revision.", {},
                          static_cast<double>(*seen.revision));
            if (!seen.digest.empty())
                out.gauge("natctl_ha_models_match",
                          "1 when the peer's model digest equals this node's.", {},
                          seen.digest == current_digest() ? 1 : 0);
        }
        if (settings_.syncs_connections()) {
            out.gauge("natctl_ha_conntrackd_up", "1 when conntrackd answered its last query.", {},
                      conntrackd_up_ ? 1 : 0);
            auto cache = [&](const char* which, const std::optional<std::uint64_t>& entries) {
                if (entries)
                    out.gauge("natctl_ha_conntrackd_cache_entries",
                              "Connections in conntrackd's caches (internal: this node's; "
                              "external: the peer's).",
                              {{"cache", which}}, static_cast<double>(*entries));
            };
            cache("internal", conntrackd_stats_.internal_entries);
            cache("external", conntrackd_stats_.external_entries);
            if (conntrackd_stats_.lost_messages)
                out.counter("natctl_ha_conntrackd_lost_messages_total",
                            "Sync messages conntrackd lost on the link.", {},
                            static_cast<double>(*conntrackd_stats_.lost_messages));
        }
    });
}

}  // namespace natctl::daemon
