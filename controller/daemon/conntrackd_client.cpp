#include "controller/daemon/conntrackd_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace natctl::daemon {
namespace {

constexpr std::size_t kMaxAnswer = 64 * 1024;

class Socket {
  public:
    explicit Socket(int fd) : fd_(fd) {}
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    ~Socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

  private:
    int fd_;
};

// poll() on `fd` until `events` or the deadline; false at the deadline.
std::expected<bool, std::string> wait_until(int fd, short events,
                                            std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd wait{fd, events, 0};
        int ready = ::poll(&wait, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) return std::unexpected(fmt::format("poll: {}", std::strerror(errno)));
        if (ready > 0) return true;
    }
}

// conntrackd.conf's words, comments dropped, braces as words of their own.
std::vector<std::string_view> config_words(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t at = 0;
    while (at < text.size()) {
        char c = text[at];
        if (c == '#') {
            at = text.find('\n', at);
            if (at == std::string_view::npos) break;
        } else if (c == '{' || c == '}') {
            words.push_back(text.substr(at, 1));
            ++at;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            ++at;
        } else {
            auto end = text.find_first_of(" \t\r\n{}#", at);
            if (end == std::string_view::npos) end = text.size();
            words.push_back(text.substr(at, end - at));
            at = end;
        }
    }
    return words;
}

}  // namespace

const char* client_option(ConntrackdRequest request) {
    switch (request) {
        case ConntrackdRequest::CommitExternalCache:
            return "-c";
        case ConntrackdRequest::FlushInternalCache:
            return "-f internal";
        case ConntrackdRequest::ResyncFromKernel:
            return "-R";
        case ConntrackdRequest::SendBulk:
            return "-B";
        case ConntrackdRequest::ShortenKernelTimers:
            return "-t";
        case ConntrackdRequest::RequestPeerResync:
            return "-n";
        case ConntrackdRequest::Statistics:
            return "-s";
    }
    return "?";
}

std::expected<ConntrackdAnswer, std::string> conntrackd_request(const std::filesystem::path& socket,
                                                                ConntrackdRequest request,
                                                                std::chrono::milliseconds timeout) {
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + timeout;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const auto& path = socket.native();
    if (path.empty() || path.size() >= sizeof address.sun_path)
        return std::unexpected(fmt::format("{}: not a usable UNIX socket path", path));
    std::copy(path.begin(), path.end(), address.sun_path);
    Socket fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) return std::unexpected(fmt::format("socket: {}", std::strerror(errno)));
    // A UNIX stream connect completes at once or fails (EAGAIN: conntrackd's backlog is full).
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
        return std::unexpected(
            fmt::format("{}: {} (is conntrackd running?)", path, std::strerror(errno)));
    const int code = static_cast<int>(request);
    auto sent = ::send(fd.get(), &code, sizeof code, MSG_NOSIGNAL);
    if (sent != static_cast<ssize_t>(sizeof code))
        return std::unexpected(fmt::format("{}: sending the request: {}", path,
                                           sent < 0 ? std::strerror(errno) : "short write"));
    ConntrackdAnswer answer;
    char buffer[4096];
    for (;;) {
        auto readable = wait_until(fd.get(), POLLIN, deadline);
        if (!readable) return std::unexpected(readable.error());
        if (!*readable)
            return std::unexpected(fmt::format("conntrackd {} gave no answer within {} ms",
                                               client_option(request), timeout.count()));
        auto got = ::recv(fd.get(), buffer, sizeof buffer, 0);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (got < 0)
            return std::unexpected(
                fmt::format("{}: reading the answer: {}", path, std::strerror(errno)));
        if (got == 0) break;  // conntrackd closes the socket once the request is done
        answer.text.append(buffer, std::min<std::size_t>(static_cast<std::size_t>(got),
                                                         kMaxAnswer - answer.text.size()));
    }
    answer.took = std::chrono::steady_clock::now() - started;
    return answer;
}

std::optional<std::filesystem::path> conntrackd_socket_path(std::string_view config_text) {
    const auto words = config_words(config_text);
    // depth of the braces; the UNIX block's depth while inside it, 0 outside (a block's
    // depth is at least 1)
    int depth = 0;
    int unix_depth = 0;
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (words[i] == "{") {
            ++depth;
            if (i > 0 && words[i - 1] == "UNIX") unix_depth = depth;
        } else if (words[i] == "}") {
            if (unix_depth == depth) unix_depth = 0;
            --depth;
        } else if (unix_depth != 0 && unix_depth == depth && words[i] == "Path" &&
                   i + 1 < words.size() && words[i + 1] != "{" && words[i + 1] != "}") {
            return std::filesystem::path(words[i + 1]);
        }
    }
    return std::nullopt;
}

}  // namespace natctl::daemon
