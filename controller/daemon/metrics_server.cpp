#include "controller/daemon/metrics_server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <set>

namespace natctl::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using Tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {
// A scraper that connects and then says nothing is dropped after this long.
constexpr auto kIdleTimeout = 60s;
constexpr std::size_t kMaxRequestBody = 4096;
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";
}  // namespace

class MetricsSession;

struct MetricsShared {
    explicit MetricsShared(MetricsServer::Render r) : render(std::move(r)) {}
    MetricsServer::Render render;
    std::set<MetricsSession*> sessions;  // sessions own themselves (shared_from_this)
};

std::expected<Tcp::endpoint, std::string> parse_listen_address(std::string_view text) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0)
        return std::unexpected(fmt::format("'{}': expected IP:PORT", text));
    auto host = text.substr(0, colon);
    auto port = text.substr(colon + 1);
    if (host.starts_with('[') != host.ends_with(']'))
        return std::unexpected(fmt::format("'{}': unbalanced brackets", text));
    bool bracketed = host.starts_with('[');
    if (bracketed) host = host.substr(1, host.size() - 2);
    if (port.empty() || port.size() > 5 ||
        !std::ranges::all_of(port, [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoul(std::string(port)) > 65535)
        return std::unexpected(fmt::format("'{}': the port must be a number 0-65535", text));
    boost::system::error_code error;
    auto address = asio::ip::make_address(std::string(host), error);
    if (error || address.is_v6() != bracketed)
        return std::unexpected(fmt::format(
            "'{}': '{}' is not an IP address (IPv6 goes in brackets: [::1]:9469)", text, host));
    return Tcp::endpoint(address, static_cast<unsigned short>(std::stoul(std::string(port))));
}

class MetricsSession : public std::enable_shared_from_this<MetricsSession> {
  public:
    MetricsSession(Tcp::socket socket, std::shared_ptr<MetricsShared> shared)
        : stream_(std::move(socket)), shared_(std::move(shared)) {
        shared_->sessions.insert(this);
    }
    ~MetricsSession() { shared_->sessions.erase(this); }
    MetricsSession(const MetricsSession&) = delete;
    MetricsSession& operator=(const MetricsSession&) = delete;

    void start() { read(); }
    void close() {
        boost::system::error_code ignored;
        stream_.socket().shutdown(Tcp::socket::shutdown_both, ignored);
        stream_.close();
    }

  private:
    void read() {
        parser_.emplace();
        parser_->body_limit(kMaxRequestBody);
        stream_.expires_after(kIdleTimeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](const boost::system::error_code& error,
                                                     std::size_t) { self->on_read(error); });
    }

    void on_read(const boost::system::error_code& error) {
        if (error) {
            if (error != http::error::end_of_stream && error != asio::error::operation_aborted &&
                error != beast::error::timeout && error != asio::error::connection_reset)
                spdlog::debug("metrics: dropping a connection: {}", error.message());
            return close();
        }
        const auto& request = parser_->get();
        response_.emplace();
        response_->version(request.version());
        response_->keep_alive(request.keep_alive());
        std::string_view target(request.target().data(), request.target().size());
        target = target.substr(0, target.find('?'));
        if (target != "/metrics") {
            response_->result(http::status::not_found);
            response_->set(http::field::content_type, "text/plain; charset=utf-8");
            response_->body() = "not found: the metrics are at /metrics\n";
        } else if (request.method() != http::verb::get) {
            response_->result(http::status::method_not_allowed);
            response_->set(http::field::allow, "GET");
            response_->set(http::field::content_type, "text/plain; charset=utf-8");
            response_->body() = "only GET\n";
        } else {
            response_->result(http::status::ok);
            response_->set(http::field::content_type, kContentType);
            response_->body() = shared_->render();
        }
        response_->prepare_payload();
        stream_.expires_after(kIdleTimeout);
        http::async_write(
            stream_, *response_,
            [self = shared_from_this()](const boost::system::error_code& e, std::size_t) {
                if (e || !self->response_->keep_alive()) return self->close();
                self->read();
            });
    }

    beast::tcp_stream stream_;
    std::shared_ptr<MetricsShared> shared_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::optional<http::response<http::string_body>> response_;
};

MetricsServer::MetricsServer(asio::io_context& io, Tcp::endpoint endpoint, Render render)
    : endpoint_(std::move(endpoint)),
      acceptor_(io),
      shared_(std::make_shared<MetricsShared>(std::move(render))) {}

MetricsServer::~MetricsServer() {
    stop();
}

std::expected<void, std::string> MetricsServer::listen() {
    auto where = [&] {
        return fmt::format("metrics {}:{}", endpoint_.address().to_string(), endpoint_.port());
    };
    boost::system::error_code error;
    acceptor_.open(endpoint_.protocol(), error);
    if (!error) acceptor_.set_option(asio::socket_base::reuse_address(true), error);
    if (!error) acceptor_.bind(endpoint_, error);
    if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
    if (error) {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        return std::unexpected(fmt::format("{}: {}", where(), error.message()));
    }
    accept();
    return {};
}

Tcp::endpoint MetricsServer::local_endpoint() const {
    boost::system::error_code error;
    auto endpoint = acceptor_.local_endpoint(error);
    return error ? endpoint_ : endpoint;
}

void MetricsServer::accept() {
    acceptor_.async_accept(
        [this, shared = shared_](const boost::system::error_code& error, Tcp::socket socket) {
            if (error == asio::error::operation_aborted || !acceptor_.is_open()) return;
            if (!error)
                std::make_shared<MetricsSession>(std::move(socket), shared)->start();
            else
                spdlog::warn("metrics: accept: {}", error.message());
            accept();
        });
}

void MetricsServer::stop() {
    boost::system::error_code ignored;
    if (acceptor_.is_open()) acceptor_.close(ignored);
    // close() lets the sessions' pending operations finish with an error, which ends them
    auto sessions = shared_->sessions;
    for (auto* session : sessions)
        session->close();
}

std::size_t MetricsServer::connections() const {
    return shared_->sessions.size();
}

}  // namespace natctl::metrics
