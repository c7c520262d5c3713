// HTTP/1.1 over a Unix stream socket for the API (docs/API.md). The server only moves
// bytes: every decision is api::Service's. Single-threaded on the daemon's io_context, so a
// request is handled to the end before the next one (or a drift repair) starts.
#pragma once

#include <cstddef>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "controller/api/service.hpp"

namespace natctl::daemon {

struct ServerShared;  // what connections share with the server (and may outlive it)

class HttpServer {
  public:
    HttpServer(boost::asio::io_context& io, api::Service& service, std::filesystem::path path);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Creates the parent directory (0755) if missing, replaces a stale socket file (one no
    // daemon answers on), binds, sets mode 0660 and starts accepting.
    std::expected<void, std::string> listen();

    // Stops accepting, removes the socket file and closes idle connections; a request being
    // answered is finished first (its connection then closes instead of being kept alive).
    void stop();

    // Connections still open (after stop(): those finishing their last response).
    std::size_t connections() const;

  private:
    void accept();

    std::filesystem::path path_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
    std::shared_ptr<ServerShared> shared_;
    bool bound_ = false;
};

// Summary of one write for the log: "uid 0 PUT /v1/config -> 200 revision 7".
std::string describe_write(const api::HttpRequest& request, const api::HttpResponse& response);

}  // namespace natctl::daemon
