// The NAT session log (per gateway: session_log off / errors / all): one JSON line per
// session start (a conntrack NEW event), end (DESTROY, with the final packet and byte
// counters of both directions when net.netfilter.nf_conntrack_acct=1) and refused
// connection (an NFLOG packet of natctl's refusal rules: the gateway had no port left).
// `errors` logs refusals only, `all` refusals, starts and ends. Sessions in the table
// before natctld started (or re-dumped after lost events) get no start line, since a dump
// cannot tell new from old; their end is logged.
//
// SessionRecorder runs on the accounting's worker thread (it is the Tracker's observer
// and the NFLOG reader's consumer); its figures and set_names() are safe from any thread.
// It also counts new sessions per EIP and per entry for the metrics, whatever the mode.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/conntrack/naming.hpp"
#include "controller/conntrack/tracker.hpp"
#include "netlink/nflog_socket.hpp"

namespace natctl::conntrack {

// Where the lines go. Used from one thread at a time.
class SessionSink {
  public:
    virtual ~SessionSink() = default;
    // `line` without its newline; false: it could not be written (counted as dropped).
    virtual bool write(std::string_view line) = 0;
    // Reopens what it writes to (after SIGHUP: logrotate moved the file away).
    virtual void reopen() {}
};

// Appends to `path`; once the file would grow beyond max_bytes it is renamed to path.1
// (path.1 to path.2 ... up to path.<keep>; the oldest is dropped) and a new one started.
// Renames are atomic: a reader sees whole files only.
class RotatingFileSink final : public SessionSink {
  public:
    static std::expected<std::unique_ptr<RotatingFileSink>, std::string> open(
        std::filesystem::path path, std::uint64_t max_bytes, unsigned keep);
    ~RotatingFileSink() override;
    bool write(std::string_view line) override;
    void reopen() override;

    RotatingFileSink(std::filesystem::path path, std::uint64_t max_bytes, unsigned keep, int fd,
                     std::uint64_t size);

  private:
    bool rotate();
    void close();

    std::filesystem::path path_;
    std::uint64_t max_bytes_;
    unsigned keep_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
};

// The systemd journal: MESSAGE= the JSON line, plus NATCTL_EVENT= and NATCTL_GATEWAY= for
// journalctl filters.
class JournalSink final : public SessionSink {
  public:
    bool write(std::string_view line) override;
};

// A refusal log prefix: "natctl <reason> <realm> <entry>".
struct RefusalPrefix {
    std::string reason;  // budget | instance_limit
    std::uint32_t realm = 0;
    std::string entry;
    bool operator==(const RefusalPrefix&) const = default;
};
std::optional<RefusalPrefix> parse_refusal_prefix(std::string_view prefix);

// 2024-05-01T12:00:00.123Z
std::string utc_timestamp(std::chrono::system_clock::time_point time);

class SessionRecorder final : public TrackerObserver {
  public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;
    // sink: null writes nothing (lines are then counted as dropped).
    explicit SessionRecorder(std::unique_ptr<SessionSink> sink, Clock clock = {});

    // The model to name sessions with (any thread; applies from the next event on).
    void set_names(std::shared_ptr<const SessionNames> names);
    // Reopen the sink before the next line (any thread).
    void request_reopen() { reopen_ = true; }

    void on_events(const std::vector<netlink::ConntrackEvent>& events) override;
    void on_overflow() override;
    void on_refused(const netlink::NflogBatch& batch);

    struct Figures {
        std::map<std::string, std::uint64_t> new_by_eip;
        // (gateway, "snat" | "dnat", entry)
        std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> new_by_entry;
        // (gateway, reason)
        std::map<std::pair<std::string, std::string>, std::uint64_t> refused;
        std::uint64_t refusals_unattributed = 0;  // prefix or realm not natctl's
        std::uint64_t lines_written = 0;
        std::uint64_t lines_dropped = 0;
        std::uint64_t nflog_overflows = 0;
    };
    Figures figures() const;

  private:
    void write(const nlohmann::json& line);
    std::shared_ptr<const SessionNames> names() const;

    std::unique_ptr<SessionSink> sink_;
    Clock clock_;
    std::atomic<bool> reopen_{false};
    mutable std::mutex names_mutex_;
    std::shared_ptr<const SessionNames> names_;
    mutable std::mutex figures_mutex_;
    Figures figures_;
};

}  // namespace natctl::conntrack
