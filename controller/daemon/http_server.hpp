// natctld's one HTTP/1.1 server (Beast), single-threaded on the daemon's io_context, so a
// request is handled to the end before the next one (or a drift repair) starts. It listens
// on the API's Unix stream socket (docs/API.md; every decision is api::Service's) and on
// the metrics TCP address (--metrics, loopback by default: GET /metrics answers with the
// text exposition 0.0.4, 405 to other methods on /metrics, 404 to any other path). What a
// listener serves, and its limits, is its HttpSite.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "controller/api/service.hpp"

namespace natctl::daemon {

struct HttpSite {
    std::string name;  // for logs: "API", "metrics"
    std::size_t max_body_bytes = 0;
    // A connection that sends nothing (or is not read from) this long is dropped; none: kept.
    std::optional<std::chrono::seconds> idle_timeout;
    std::function<api::HttpResponse(const api::HttpRequest&)> handle;
    // The API: malformed and oversized requests get a JSON error (else the connection just
    // closes), writes are logged, and the heap is trimmed after large or writing requests.
    bool api = false;
    std::function<void()> answered;  // after each response is written (may be empty)
};

// The API on api::Service (limits: api::Service::kMaxBodyBytes, no idle timeout).
HttpSite api_site(api::Service& service);
// GET /metrics answered with `render()` (request bodies up to 4 KiB, 60 s idle timeout).
HttpSite metrics_site(std::function<std::string()> render);

// "127.0.0.1:9469", "[::1]:9469": an IP literal (no host names: the exporter binds only
// to the address it is given) and a port 0-65535 (0: any free port).
std::expected<boost::asio::ip::tcp::endpoint, std::string> parse_listen_address(
    std::string_view text);

struct Listener;

class HttpServer {
  public:
    explicit HttpServer(boost::asio::io_context& io);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // A Unix stream socket: creates the parent directory (0755) if missing, replaces a stale
    // socket file (one no daemon answers on), binds, sets mode 0660 and starts accepting.
    std::expected<void, std::string> listen(const std::filesystem::path& path, HttpSite site);
    // A TCP address: binds (SO_REUSEADDR) and starts accepting; returns where it listens
    // (the bound port when 0 was asked for).
    std::expected<boost::asio::ip::tcp::endpoint, std::string> listen(
        const boost::asio::ip::tcp::endpoint& endpoint, HttpSite site);

    // Stops accepting, removes the socket files and closes idle connections; a request
    // being answered is finished first (its connection then closes instead of being kept
    // alive).
    void stop();

    // Connections still open (after stop(): those finishing their last response).
    std::size_t connections() const;

  private:
    boost::asio::io_context& io_;
    std::vector<std::shared_ptr<Listener>> listeners_;
};

// Summary of one write for the log: "uid 0 PUT /v1/config -> 200 revision 7".
std::string describe_write(const api::HttpRequest& request, const api::HttpResponse& response);

}  // namespace natctl::daemon
