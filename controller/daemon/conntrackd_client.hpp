// conntrackd's control socket (its "General { UNIX { Path } }"): the requests its own client
// mode sends (`conntrackd -c`, `-t`, ...), without a process per request. The protocol is
// conntrackd's: connect, write the request as one native int, read the answer text until
// conntrackd closes the socket. A commit keeps the socket open until every entry is in the
// kernel, so the answer marks the end of the commit.
#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace natctl::daemon {

// The request codes of conntrack-tools 1.4 (include/conntrackd.h); each is what the named
// client option sends (checked against conntrackd 1.4.7 with a listening socket).
enum class ConntrackdRequest : int {
    CommitExternalCache = 46,  // -c     (ALL_COMMIT: conntrack entries and expectations)
    FlushInternalCache = 33,   // -f internal
    ResyncFromKernel = 44,     // -R     (ALL_RESYNC_MASTER)
    SendBulk = 22,             // -B
    ShortenKernelTimers = 26,  // -t     (RESET_TIMERS: purge after PurgeTimeout)
    RequestPeerResync = 23,    // -n     (REQUEST_DUMP)
    Statistics = 21,           // -s
};

// The client option a request stands for ("-c"), for logs and status.
const char* client_option(ConntrackdRequest request);

struct ConntrackdAnswer {
    std::string text;  // what conntrackd wrote back, up to 64 KiB
    std::chrono::duration<double> took{0};
};

// Fails when conntrackd does not listen on `socket`, or does not finish within `timeout`.
std::expected<ConntrackdAnswer, std::string> conntrackd_request(const std::filesystem::path& socket,
                                                                ConntrackdRequest request,
                                                                std::chrono::milliseconds timeout);

// The control socket named in a conntrackd.conf ("UNIX { Path /run/conntrackd.ctl }" inside
// "General"); nullopt when the file names none.
std::optional<std::filesystem::path> conntrackd_socket_path(std::string_view config_text);

}  // namespace natctl::daemon
