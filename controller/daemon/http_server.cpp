#include "controller/daemon/http_server.hpp"

#include "controller/daemon/http_request.hpp"
#include "util/heap.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <set>
#include <system_error>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace natctl::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using Local = asio::local::stream_protocol;
using Tcp = asio::ip::tcp;
using namespace std::chrono_literals;

class SessionBase {
  public:
    virtual ~SessionBase() = default;
    // Server shutdown: an idle connection (waiting for a request) closes now; one whose
    // request is being answered closes once its response is written.
    virtual void shutdown() = 0;
};

// What a listener's connections share with it (and may outlive it with).
struct ServerShared {
    ServerShared(asio::io_context& io, HttpSite s) : site(std::move(s)), trim_timer(io) {}
    HttpSite site;
    std::set<SessionBase*> sessions;  // sessions own themselves (shared_from_this)
    bool stopping = false;
    asio::steady_timer trim_timer;
    bool trim_scheduled = false;
};

namespace {

// Small writes free large blocks now and then too (the stored model's entry vector moves
// when it grows, the session log's name table is replaced): the heap is also trimmed this
// long after a write, once per burst of writes, off the answers' path. Measured at 100k
// entries: the first one-entry change left 11 MiB of freed heap resident (RSS 52 -> 63 MiB).
constexpr auto kTrimAfterWrites = std::chrono::seconds(1);

// The metrics endpoint: a scraper that connects and then says nothing is dropped after
// this long; a scrape request has no business carrying a body.
constexpr auto kMetricsIdleTimeout = 60s;
constexpr std::size_t kMetricsMaxRequestBody = 4096;
constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string error_body(std::string_view reason) {
    return nlohmann::json{{"errors", {{{"path", ""}, {"reason", reason}}}}}.dump();
}

bool is_http_parse_error(const boost::system::error_code& error) {
    return error.category() == http::make_error_code(http::error::bad_target).category();
}

}  // namespace

template <typename Socket>
class HttpSession : public SessionBase, public std::enable_shared_from_this<HttpSession<Socket>> {
  public:
    HttpSession(Socket socket, std::shared_ptr<ServerShared> shared)
        : socket_(std::move(socket)),
          shared_(std::move(shared)),
          site_(shared_->site),
          idle_timer_(socket_.get_executor()) {
        shared_->sessions.insert(this);
    }
    ~HttpSession() override { shared_->sessions.erase(this); }
    HttpSession(const HttpSession&) = delete;
    HttpSession& operator=(const HttpSession&) = delete;

    void start() {
        if constexpr (std::is_same_v<Socket, Local::socket>) {
            ucred credentials{};
            socklen_t length = sizeof credentials;
            if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &credentials,
                             &length) == 0)
                peer_uid_ = credentials.uid;
        }
        read_header();
    }

    void shutdown() override {
        if (!busy_) close();
    }

  private:
    // While reading a request and writing its answer, a connection that stalls this long
    // is dropped (sites with an idle timeout).
    void arm_idle_timer() {
        if (!site_.idle_timeout) return;
        idle_timer_.expires_after(*site_.idle_timeout);
        idle_timer_.async_wait([weak = this->weak_from_this()](const boost::system::error_code& e) {
            if (e) return;
            if (auto self = weak.lock()) self->close();
        });
    }

    void read_header() {
        parser_.emplace();
        limit_request_parser(*parser_);
        parser_->body_limit(site_.max_body_bytes);
        busy_ = false;
        arm_idle_timer();
        http::async_read_header(
            socket_, buffer_, *parser_,
            [self = this->shared_from_this()](const boost::system::error_code& error, std::size_t) {
                self->on_header(error);
            });
    }

    void on_header(const boost::system::error_code& error) {
        if (error) return on_read_error(error);
        busy_ = true;
        const auto& request = parser_->get();
        auto expect = request[http::field::expect];
        if (beast::iequals(expect, "100-continue")) {
            // curl waits a second for this before sending a large body.
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            asio::async_write(
                socket_, asio::buffer(kContinue.data(), kContinue.size()),
                [self = this->shared_from_this()](const boost::system::error_code& e, std::size_t) {
                    if (e) return self->close();
                    self->read_body();
                });
            return;
        }
        read_body();
    }

    void read_body() {
        http::async_read(
            socket_, buffer_, *parser_,
            [self = this->shared_from_this()](const boost::system::error_code& error, std::size_t) {
                if (error) return self->on_read_error(error);
                self->handle();
            });
    }

    void on_read_error(const boost::system::error_code& error) {
        busy_ = true;
        if (!site_.api) {
            if (error != http::error::end_of_stream && error != asio::error::operation_aborted &&
                error != asio::error::connection_reset)
                spdlog::debug("{}: dropping a connection: {}", site_.name, error.message());
            return close();
        }
        if (error == http::error::body_limit) {
            respond_error(http::status::payload_too_large,
                          fmt::format("request body larger than {} bytes", site_.max_body_bytes));
        } else if (error == http::error::end_of_stream || error == http::error::partial_message ||
                   error == asio::error::operation_aborted || !is_http_parse_error(error)) {
            close();  // the peer went away (or we are shutting down): nobody to answer
        } else {
            respond_error(http::status::bad_request,
                          fmt::format("malformed HTTP request: {}", error.message()));
        }
    }

    void respond_error(http::status status, const std::string& reason) {
        auto response = std::make_shared<http::response<http::string_body>>(status, 11);
        response->set(http::field::content_type, "application/json");
        response->keep_alive(false);
        response->body() = error_body(reason);
        response->prepare_payload();
        write(std::move(response));
    }

    void handle() {
        auto& message = parser_->get();
        api::HttpRequest request = to_api_request(message, peer_uid_);

        api::HttpResponse result = site_.handle(request);
        const bool writes = request.method != "GET" && request.method != "HEAD";
        if (site_.api && writes)
            spdlog::info("write: {}", describe_write(request, result));
        else if (site_.api)
            spdlog::debug("read: {} {} -> {}", request.method, request.target, result.status);

        auto response = std::make_shared<http::response<http::string_body>>(
            static_cast<http::status>(result.status), message.version());
        bool has_content_type = false;
        for (const auto& [name, value] : result.headers) {
            has_content_type = has_content_type || beast::iequals(name, "content-type");
            response->insert(name, value);
        }
        if (!has_content_type) response->set(http::field::content_type, "application/json");
        response->body() = std::move(result.body);
        if (site_.api) {
            freed_after_write_ = std::max(request.body.size(), response->body().size());
            if (writes) schedule_trim(shared_);
        }
        response->keep_alive(message.keep_alive() && !shared_->stopping);
        response->prepare_payload();
        write(std::move(response));
    }

    void write(std::shared_ptr<http::response<http::string_body>> response) {
        arm_idle_timer();
        http::async_write(socket_, *response,
                          [self = this->shared_from_this(), response](
                              const boost::system::error_code& error, std::size_t) {
                              if (self->site_.answered) self->site_.answered();
                              if (util::heap_release_due(self->freed_after_write_))
                                  self->release_freed_memory(*response);
                              if (error || !response->keep_alive() || self->shared_->stopping)
                                  return self->close();
                              self->read_header();
                          });
    }

    // The service trims the heap once it has answered, but the request's read buffer and
    // the answer (a 100k-entry PUT's plan is megabytes) are freed only now: without another
    // trim their pages, scattered among what natctld keeps, stay resident (~60 MiB after a
    // 100k-entry load).
    void release_freed_memory(http::response<http::string_body>& response) {
        freed_after_write_ = 0;
        std::string().swap(response.body());
        buffer_.shrink_to_fit();
        util::release_heap();
    }

    static void schedule_trim(const std::shared_ptr<ServerShared>& shared) {
        if (shared->trim_scheduled) return;
        shared->trim_scheduled = true;
        shared->trim_timer.expires_after(kTrimAfterWrites);
        shared->trim_timer.async_wait([shared](const boost::system::error_code& error) {
            shared->trim_scheduled = false;
            if (!error) util::release_heap();
        });
    }

    void close() {
        boost::system::error_code ignored;
        idle_timer_.cancel();
        socket_.shutdown(Socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

    Socket socket_;
    std::shared_ptr<ServerShared> shared_;
    const HttpSite& site_;  // owned by shared_
    asio::steady_timer idle_timer_;
    beast::flat_buffer buffer_;
    std::optional<HttpRequestParser> parser_;
    std::optional<std::uint32_t> peer_uid_;
    bool busy_ = false;  // a request is being read past its header, answered or written
    std::size_t freed_after_write_ = 0;  // the larger of request and answer, in bytes
};

// One listening socket and what its connections share.
struct Listener {
    virtual ~Listener() = default;
    virtual void stop() = 0;
    std::shared_ptr<ServerShared> shared;

    void shut_sessions() {
        shared->stopping = true;
        shared->trim_timer.cancel();  // would keep io_context::run() going for up to a second
        // shutdown() may close a session, which then leaves the set from its destructor
        // later (handlers still hold it); iterate over a copy anyway.
        auto sessions = shared->sessions;
        for (auto* session : sessions)
            session->shutdown();
    }
};

template <typename Protocol>
struct ListenerOn final : Listener, std::enable_shared_from_this<ListenerOn<Protocol>> {
    ListenerOn(asio::io_context& io, HttpSite site, std::filesystem::path socket_file = {})
        : acceptor(io), path(std::move(socket_file)) {
        shared = std::make_shared<ServerShared>(io, std::move(site));
    }

    void accept() {
        acceptor.async_accept(
            [self = this->shared_from_this()](const boost::system::error_code& error,
                                              typename Protocol::socket socket) {
                if (error == asio::error::operation_aborted || self->shared->stopping) return;
                if (error) {
                    // EMFILE and the like: keep serving the connections we have, try again.
                    spdlog::warn("{}: accept: {}", self->shared->site.name, error.message());
                } else {
                    std::make_shared<HttpSession<typename Protocol::socket>>(std::move(socket),
                                                                             self->shared)
                        ->start();
                }
                self->accept();
            });
    }

    void stop() override {
        if (shared->stopping) return;
        boost::system::error_code ignored;
        acceptor.close(ignored);
        if (!path.empty()) {
            std::error_code ec;
            std::filesystem::remove(path, ec);
        }
        shut_sessions();
    }

    typename Protocol::acceptor acceptor;
    std::filesystem::path path;  // a Unix socket file to remove on stop
};

HttpSite api_site(api::Service& service) {
    return HttpSite{
        .name = "API",
        .max_body_bytes = api::Service::kMaxBodyBytes,
        .idle_timeout = std::nullopt,
        .handle = [&service](const api::HttpRequest& request) { return service.handle(request); },
        .api = true,
        .answered = [&service] { service.answered(); },
    };
}

HttpSite metrics_site(std::function<std::string()> render) {
    auto handle = [render = std::move(render)](const api::HttpRequest& request) {
        api::HttpResponse response;
        std::string_view target = request.target;
        target = target.substr(0, target.find('?'));
        if (target != "/metrics") {
            response.status = 404;
            response.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
            response.body = "not found: the metrics are at /metrics\n";
        } else if (request.method != "GET") {
            response.status = 405;
            response.headers = {{"Allow", "GET"}, {"Content-Type", "text/plain; charset=utf-8"}};
            response.body = "only GET\n";
        } else {
            response.status = 200;
            response.headers = {{"Content-Type", kMetricsContentType}};
            response.body = render();
        }
        return response;
    };
    return HttpSite{
        .name = "metrics",
        .max_body_bytes = kMetricsMaxRequestBody,
        .idle_timeout = kMetricsIdleTimeout,
        .handle = std::move(handle),
        .api = false,
        .answered = {},
    };
}

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

namespace {

// Whether a daemon answers on the socket file at `path` (connect succeeds).
bool someone_listens(const std::filesystem::path& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    bool answered = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return answered;
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io) : io_(io) {}

HttpServer::~HttpServer() {
    stop();
}

std::expected<void, std::string> HttpServer::listen(const std::filesystem::path& path,
                                                    HttpSite site) {
    namespace fs = std::filesystem;
    if (path.native().size() >= sizeof(sockaddr_un::sun_path))
        return std::unexpected(fmt::format("{}: socket path too long", path.string()));
    std::error_code ec;
    const auto parent = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    if (!fs::exists(parent, ec)) {
        fs::create_directories(parent, ec);
        if (ec)
            return std::unexpected(fmt::format("creating {}: {}", parent.string(), ec.message()));
        fs::permissions(parent, fs::perms(0755), ec);
    }
    auto status = fs::symlink_status(path, ec);
    if (fs::exists(status)) {
        if (!fs::is_socket(status))
            return std::unexpected(
                fmt::format("{} exists and is not a socket; not replacing it", path.string()));
        if (someone_listens(path))
            return std::unexpected(fmt::format(
                "{}: another daemon answers on this socket; not taking it over", path.string()));
        spdlog::info("removing stale socket {}", path.string());
        fs::remove(path, ec);
        if (ec) return std::unexpected(fmt::format("removing {}: {}", path.string(), ec.message()));
    }

    auto listener = std::make_shared<ListenerOn<Local>>(io_, std::move(site));
    listeners_.push_back(listener);  // from here on, stop() closes and cleans up
    boost::system::error_code error;
    listener->acceptor.open(Local(), error);
    if (!error) listener->acceptor.bind(Local::endpoint(path.string()), error);
    if (error)
        return std::unexpected(fmt::format("binding {}: {}", path.string(), error.message()));
    listener->path = path;
    // Before listen(): nobody can connect yet, so the brief umask-derived mode is harmless.
    if (::chmod(path.c_str(), 0660) != 0)
        return std::unexpected(
            fmt::format("chmod 0660 {}: {}", path.string(), std::strerror(errno)));
    listener->acceptor.listen(asio::socket_base::max_listen_connections, error);
    if (error)
        return std::unexpected(fmt::format("listening on {}: {}", path.string(), error.message()));
    listener->accept();
    return {};
}

std::expected<Tcp::endpoint, std::string> HttpServer::listen(const Tcp::endpoint& endpoint,
                                                             HttpSite site) {
    auto where = [&] {
        return fmt::format("{} {}:{}", site.name, endpoint.address().to_string(), endpoint.port());
    };
    auto listener = std::make_shared<ListenerOn<Tcp>>(io_, site);
    listeners_.push_back(listener);
    auto& acceptor = listener->acceptor;
    boost::system::error_code error;
    acceptor.open(endpoint.protocol(), error);
    if (!error) acceptor.set_option(asio::socket_base::reuse_address(true), error);
    if (!error) acceptor.bind(endpoint, error);
    if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
    if (error) {
        boost::system::error_code ignored;
        acceptor.close(ignored);
        return std::unexpected(fmt::format("{}: {}", where(), error.message()));
    }
    auto bound = acceptor.local_endpoint(error);
    listener->accept();
    return error ? endpoint : bound;
}

std::size_t HttpServer::connections() const {
    std::size_t open = 0;
    for (const auto& listener : listeners_)
        open += listener->shared->sessions.size();
    return open;
}

void HttpServer::stop() {
    for (auto& listener : listeners_)
        listener->stop();
}

std::string describe_write(const api::HttpRequest& request, const api::HttpResponse& response) {
    std::string who = request.peer_uid ? fmt::format("uid {}", *request.peer_uid) : "uid ?";
    std::string result =
        fmt::format("{} {} {} -> {}", who, request.method, request.target, response.status);
    if (response.status >= 200 && response.status < 300) {
        auto body = nlohmann::json::parse(response.body, nullptr, false);
        if (body.is_object() && body.contains("revision"))
            result += fmt::format(" revision {}", body["revision"].dump());
        if (body.is_object() && body.contains("changed"))
            result += fmt::format(" changed {}", body["changed"].dump());
    } else {
        result += fmt::format(" {}", response.body.substr(0, 300));
    }
    return result;
}

}  // namespace natctl::daemon
