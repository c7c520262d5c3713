// The transport to natctld: one HTTP/1.1 request per connection over its Unix socket,
// synchronous for the caller but bounded by a deadline, so that a daemon that hangs makes
// natctl fail (exit 3) instead of blocking a script or an Ansible run forever.
#pragma once

#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace natctl::cli {

struct HttpCall {
    std::string method;  // "GET", "PUT", "POST", "DELETE"
    std::string target;  // "/v1/config?dry_run=1"
    std::vector<std::pair<std::string, std::string>> headers;
    std::optional<std::string> body;  // JSON
};

struct HttpAnswer {
    unsigned status = 0;
    std::string etag;  // as sent, quotes included; empty when absent
    std::string body;
};

class DaemonClient {
  public:
    DaemonClient(std::string socket_path, std::chrono::milliseconds timeout)
        : socket_path_(std::move(socket_path)), timeout_(timeout) {}

    // The daemon's answer whatever its status; an error only when no complete HTTP answer
    // arrived (cannot connect, timeout, connection closed, not HTTP): the reason, without
    // the socket path (the caller names it).
    std::expected<HttpAnswer, std::string> send(const HttpCall& call) const;

    const std::string& socket_path() const { return socket_path_; }

  private:
    std::string socket_path_;
    std::chrono::milliseconds timeout_;
};

}  // namespace natctl::cli
