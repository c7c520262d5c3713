#include "controller/conntrack/session_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <systemd/sd-journal.h>

namespace natctl::conntrack {
namespace {

using nlohmann::json;

int open_append(const std::filesystem::path& path) {
    return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

}  // namespace

std::string utc_timestamp(std::chrono::system_clock::time_point time) {
    const auto since = time.time_since_epoch();
    const auto seconds = std::chrono::floor<std::chrono::seconds>(since);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(since - seconds).count();
    const std::time_t t = seconds.count();
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

std::optional<RefusalPrefix> parse_refusal_prefix(std::string_view prefix) {
    // nft may pad nothing, but a trailing space in a hand-written prefix is harmless.
    while (!prefix.empty() && prefix.back() == ' ')
        prefix.remove_suffix(1);
    constexpr std::string_view kTag = "natctl ";
    if (!prefix.starts_with(kTag)) return std::nullopt;
    prefix.remove_prefix(kTag.size());
    const auto reason_end = prefix.find(' ');
    if (reason_end == std::string_view::npos) return std::nullopt;
    RefusalPrefix out;
    out.reason = std::string(prefix.substr(0, reason_end));
    prefix.remove_prefix(reason_end + 1);
    const auto realm_end = prefix.find(' ');
    const auto realm_text = prefix.substr(0, realm_end);
    auto [end, error] =
        std::from_chars(realm_text.data(), realm_text.data() + realm_text.size(), out.realm);
    if (error != std::errc{} || end != realm_text.data() + realm_text.size()) return std::nullopt;
    if (realm_end != std::string_view::npos) out.entry = std::string(prefix.substr(realm_end + 1));
    // The data plane writes "-" for a refusal outside any SNAT entry.
    if (out.entry == "-") out.entry.clear();
    if (out.reason != "budget" && out.reason != "instance_limit") return std::nullopt;
    return out;
}

// ---- RotatingFileSink ----

std::expected<std::unique_ptr<RotatingFileSink>, std::string> RotatingFileSink::open(
    std::filesystem::path path, std::uint64_t max_bytes, unsigned keep) {
    const int fd = open_append(path);
    if (fd < 0) return std::unexpected(fmt::format("{}: {}", path.string(), std::strerror(errno)));
    struct stat info {};
    const std::uint64_t size =
        ::fstat(fd, &info) == 0 ? static_cast<std::uint64_t>(info.st_size) : 0;
    return std::make_unique<RotatingFileSink>(std::move(path), max_bytes, keep, fd, size);
}

RotatingFileSink::RotatingFileSink(std::filesystem::path path, std::uint64_t max_bytes,
                                   unsigned keep, int fd, std::uint64_t size)
    : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep), fd_(fd), size_(size) {}

RotatingFileSink::~RotatingFileSink() {
    close();
}

void RotatingFileSink::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void RotatingFileSink::reopen() {
    close();
    fd_ = open_append(path_);
    struct stat info {};
    size_ = fd_ >= 0 && ::fstat(fd_, &info) == 0 ? static_cast<std::uint64_t>(info.st_size) : 0;
}

bool RotatingFileSink::rotate() {
    close();
    auto numbered = [this](unsigned n) {
        auto name = path_;
        name += fmt::format(".{}", n);
        return name;
    };
    std::error_code ignored;
    if (keep_ == 0) {
        std::filesystem::remove(path_, ignored);
    } else {
        std::filesystem::remove(numbered(keep_), ignored);
        for (unsigned n = keep_; n > 1; --n)
            std::filesystem::rename(numbered(n - 1), numbered(n), ignored);
        std::filesystem::rename(path_, numbered(1), ignored);
    }
    reopen();
    return fd_ >= 0;
}

bool RotatingFileSink::write(std::string_view line) {
    const std::uint64_t length = line.size() + 1;
    if (size_ > 0 && size_ + length > max_bytes_ && !rotate()) return false;
    if (fd_ < 0) {
        reopen();
        if (fd_ < 0) return false;
    }
    std::string buffer;
    buffer.reserve(length);
    buffer.append(line);
    buffer.push_back('\n');
    // One write() per line: O_APPEND keeps lines whole even with another writer.
    const ssize_t written = ::write(fd_, buffer.data(), buffer.size());
    if (written != static_cast<ssize_t>(buffer.size())) return false;
    size_ += length;
    return true;
}

// ---- JournalSink ----

bool JournalSink::write(std::string_view line) {
    const auto parsed = json::parse(line, nullptr, false);
    const std::string event =
        parsed.is_object() ? parsed.value("event", std::string()) : std::string();
    const std::string gateway =
        parsed.is_object() ? parsed.value("gateway", std::string()) : std::string();
    return sd_journal_send("MESSAGE=%.*s", static_cast<int>(line.size()), line.data(), "PRIORITY=6",
                           "SYSLOG_IDENTIFIER=natctl-sessions", "NATCTL_EVENT=%s", event.c_str(),
                           "NATCTL_GATEWAY=%s", gateway.c_str(), nullptr) >= 0;
}

// ---- SessionRecorder ----

SessionRecorder::SessionRecorder(std::unique_ptr<SessionSink> sink, Clock clock)
    : sink_(std::move(sink)), clock_(std::move(clock)) {
    if (!clock_) clock_ = [] { return std::chrono::system_clock::now(); };
}

void SessionRecorder::set_names(std::shared_ptr<const SessionNames> names) {
    std::lock_guard lock(names_mutex_);
    names_ = std::move(names);
}

std::shared_ptr<const SessionNames> SessionRecorder::names() const {
    std::lock_guard lock(names_mutex_);
    return names_;
}

void SessionRecorder::write(const json& line) {
    if (reopen_.exchange(false) && sink_) sink_->reopen();
    const bool ok = sink_ && sink_->write(line.dump());
    std::lock_guard lock(figures_mutex_);
    ++(ok ? figures_.lines_written : figures_.lines_dropped);
}

void SessionRecorder::on_events(const std::vector<netlink::ConntrackEvent>& events) {
    const auto names = this->names();
    if (!names) return;
    const auto now = utc_timestamp(clock_());
    for (const auto& event : events) {
        const auto& e = event.entry;
        const auto named = names->name(e);
        const auto* gateway = named.gateway();
        const bool start = event.type == netlink::ConntrackEventType::New;
        if (start) {
            std::lock_guard lock(figures_mutex_);
            if (named.snat_eip) ++figures_.new_by_eip[named.snat_eip->eip->name];
            if (named.dnat_eip && named.dnat_eip != named.snat_eip)
                ++figures_.new_by_eip[named.dnat_eip->eip->name];
            if (named.snat_eip && named.snat_eip->gateway)
                ++figures_.new_by_entry[{named.snat_eip->gateway->name, "snat",
                                         named.snat ? named.snat->name : ""}];
            if (named.dnat_eip && named.dnat_eip->gateway)
                ++figures_.new_by_entry[{named.dnat_eip->gateway->name, "dnat",
                                         std::string(named.dnat)}];
        }
        if (!gateway || gateway->log_mode() != model::SessionLog::All) continue;
        const char* type = e.src_nat() && e.dst_nat() ? "snat+dnat" : e.src_nat() ? "snat" : "dnat";
        const auto* eip = named.snat_eip ? named.snat_eip : named.dnat_eip;
        json line{
            {"time", now},
            {"event", start ? "start" : "end"},
            {"gateway", gateway->name},
            {"type", type},
            {"eip", eip ? json(eip->eip->name) : json()},
            {"protocol", protocol_json(e.protocol)},
            {"original",
             tuple_json(e.original.src, e.original.sport, e.original.dst, e.original.dport)},
            // as the packets leave the gateway: the reply tuple turned around
            {"translated", tuple_json(e.reply.dst, e.reply.dport, e.reply.src, e.reply.sport)}};
        if (e.src_nat()) line["entry"] = named.snat ? json(named.snat->name) : json();
        if (e.dst_nat())
            line[e.src_nat() ? "dnat_entry" : "entry"] =
                named.dnat.empty() ? json() : json(named.dnat);
        if (e.icmp) line["icmp_id"] = e.icmp->id;
        if (e.zone) line["zone"] = e.zone;
        if (event.counters) {
            const auto& c = *event.counters;
            line["packets"] = json{{"original", c.original_packets}, {"reply", c.reply_packets}};
            line["bytes"] = json{{"original", c.original_bytes}, {"reply", c.reply_bytes}};
        }
        write(line);
    }
}

void SessionRecorder::on_overflow() {
    // Starts and ends were lost with the events: say so in the log itself, once per loss,
    // for every gateway that logs sessions.
    const auto names = this->names();
    if (!names) return;
    for (const auto& gateway : names->model().nat_gateways)
        if (gateway.log_mode() == model::SessionLog::All)
            write(json{{"time", utc_timestamp(clock_())},
                       {"event", "lost"},
                       {"gateway", gateway.name},
                       {"reason", "conntrack events lost (ENOBUFS)"}});
}

void SessionRecorder::on_refused(const netlink::NflogBatch& batch) {
    if (batch.overflow) {
        std::lock_guard lock(figures_mutex_);
        ++figures_.nflog_overflows;
    }
    const auto names = this->names();
    for (const auto& packet : batch.packets) {
        const auto prefix = parse_refusal_prefix(packet.prefix);
        const auto* gateway = prefix && names ? names->gateway_of_realm(prefix->realm) : nullptr;
        {
            std::lock_guard lock(figures_mutex_);
            if (gateway)
                ++figures_.refused[{gateway->name, prefix->reason}];
            else
                ++figures_.refusals_unattributed;
        }
        if (!gateway || gateway->log_mode() == model::SessionLog::Off) continue;
        json line{{"time", utc_timestamp(packet.timestamp.value_or(clock_()))},
                  {"event", "refused"},
                  {"gateway", gateway->name},
                  {"entry", prefix->entry.empty() ? json() : json(prefix->entry)},
                  {"reason", prefix->reason},
                  {"realm", prefix->realm},
                  {"protocol", protocol_json(packet.protocol)},
                  {"original", tuple_json(packet.tuple.src, packet.tuple.sport, packet.tuple.dst,
                                          packet.tuple.dport)}};
        if (packet.icmp) line["icmp_id"] = packet.icmp->id;
        write(line);
    }
}

SessionRecorder::Figures SessionRecorder::figures() const {
    std::lock_guard lock(figures_mutex_);
    return figures_;
}

}  // namespace natctl::conntrack
