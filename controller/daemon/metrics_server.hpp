// The Prometheus endpoint: HTTP/1.1 on a TCP address (--metrics, loopback by default),
// answering GET /metrics with the registry's text exposition (format 0.0.4), 405 to other
// methods on /metrics and 404 to any other path. Single-threaded on the daemon's
// io_context; a scrape is rendered and written without blocking the API for long.
#pragma once

#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace natctl::metrics {

// "127.0.0.1:9469", "[::1]:9469": an IP literal (no host names: the exporter binds only
// to the address it is given) and a port 0-65535 (0: any free port).
std::expected<boost::asio::ip::tcp::endpoint, std::string> parse_listen_address(
    std::string_view text);

struct MetricsShared;

class MetricsServer {
  public:
    using Render = std::function<std::string()>;

    MetricsServer(boost::asio::io_context& io, boost::asio::ip::tcp::endpoint endpoint,
                  Render render);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // Binds (SO_REUSEADDR) and starts accepting.
    std::expected<void, std::string> listen();
    // Where it listens (the bound port when 0 was asked for).
    boost::asio::ip::tcp::endpoint local_endpoint() const;
    // Stops accepting and closes every connection (a scrape being written is cut short).
    void stop();
    std::size_t connections() const;

  private:
    void accept();

    boost::asio::ip::tcp::endpoint endpoint_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::shared_ptr<MetricsShared> shared_;
};

}  // namespace natctl::metrics
