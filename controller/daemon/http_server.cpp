#include "controller/daemon/http_server.hpp"

#include "controller/daemon/http_request.hpp"

#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>

namespace natctl::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using Local = asio::local::stream_protocol;

class HttpSession;

struct ServerShared {
    ServerShared(boost::asio::io_context& io, api::Service& s) : service(s), trim_timer(io) {}
    api::Service& service;
    std::set<HttpSession*> sessions;  // sessions own themselves (shared_from_this)
    bool stopping = false;
    boost::asio::steady_timer trim_timer;
    bool trim_scheduled = false;
};

namespace {

// A request or answer this large leaves the heap trimmed once it is written.
constexpr std::size_t kLargeMessageBytes = 1024 * 1024;
// Small writes free large blocks now and then too (the stored model's entry vector moves
// when it grows, the session log's name table is replaced): the heap is also trimmed this
// long after a write, once per burst of writes, off the answers' path. Measured at 100k
// entries: the first one-entry change left 11 MiB of freed heap resident (RSS 52 -> 63 MiB).
constexpr auto kTrimAfterWrites = std::chrono::seconds(1);

std::string error_body(std::string_view reason) {
    return nlohmann::json{{"errors", {{{"path", ""}, {"reason", reason}}}}}.dump();
}

bool is_http_parse_error(const boost::system::error_code& error) {
    return error.category() == http::make_error_code(http::error::bad_target).category();
}

}  // namespace

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

class HttpSession : public std::enable_shared_from_this<HttpSession> {
  public:
    HttpSession(Local::socket socket, std::shared_ptr<ServerShared> shared)
        : socket_(std::move(socket)), shared_(std::move(shared)) {
        shared_->sessions.insert(this);
    }
    ~HttpSession() { shared_->sessions.erase(this); }
    HttpSession(const HttpSession&) = delete;
    HttpSession& operator=(const HttpSession&) = delete;

    void start() {
        ucred credentials{};
        socklen_t length = sizeof credentials;
        if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) ==
            0)
            peer_uid_ = credentials.uid;
        read_header();
    }

    // Server shutdown: an idle connection (waiting for a request) closes now; one whose
    // request is being answered closes once its response is written.
    void shutdown() {
        if (!busy_) close();
    }

  private:
    void read_header() {
        parser_.emplace();
        limit_request_parser(*parser_);
        busy_ = false;
        http::async_read_header(
            socket_, buffer_, *parser_,
            [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
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
                [self = shared_from_this()](const boost::system::error_code& e, std::size_t) {
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
            [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
                if (error) return self->on_read_error(error);
                self->handle();
            });
    }

    void on_read_error(const boost::system::error_code& error) {
        busy_ = true;
        if (error == http::error::body_limit) {
            respond_error(
                http::status::payload_too_large,
                fmt::format("request body larger than {} bytes", api::Service::kMaxBodyBytes));
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

        api::HttpResponse result = shared_->service.handle(request);
        if (request.method != "GET" && request.method != "HEAD")
            spdlog::info("write: {}", describe_write(request, result));
        else
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
        trim_after_write_ = request.body.size() >= kLargeMessageBytes ||
                            response->body().size() >= kLargeMessageBytes;
        if (request.method != "GET" && request.method != "HEAD") schedule_trim(shared_);
        response->keep_alive(message.keep_alive() && !shared_->stopping);
        response->prepare_payload();
        write(std::move(response));
    }

    void write(std::shared_ptr<http::response<http::string_body>> response) {
        http::async_write(socket_, *response,
                          [self = shared_from_this(), response](
                              const boost::system::error_code& error, std::size_t) {
                              self->shared_->service.answered();
                              if (self->trim_after_write_) self->release_freed_memory(*response);
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
        trim_after_write_ = false;
        std::string().swap(response.body());
        buffer_.shrink_to_fit();
        ::malloc_trim(0);
    }

    static void schedule_trim(const std::shared_ptr<ServerShared>& shared) {
        if (shared->trim_scheduled) return;
        shared->trim_scheduled = true;
        shared->trim_timer.expires_after(kTrimAfterWrites);
        shared->trim_timer.async_wait([shared](const boost::system::error_code& error) {
            shared->trim_scheduled = false;
            if (!error) ::malloc_trim(0);
        });
    }

    void close() {
        boost::system::error_code ignored;
        socket_.shutdown(Local::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

    Local::socket socket_;
    std::shared_ptr<ServerShared> shared_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::optional<std::uint32_t> peer_uid_;
    bool busy_ = false;  // a request is being read past its header, answered or written
    bool trim_after_write_ = false;
};

HttpServer::HttpServer(asio::io_context& io, api::Service& service, std::filesystem::path path)
    : path_(std::move(path)), acceptor_(io), shared_(std::make_shared<ServerShared>(io, service)) {}

HttpServer::~HttpServer() {
    stop();
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

std::expected<void, std::string> HttpServer::listen() {
    namespace fs = std::filesystem;
    if (path_.native().size() >= sizeof(sockaddr_un::sun_path))
        return std::unexpected(fmt::format("{}: socket path too long", path_.string()));
    std::error_code ec;
    const auto parent = path_.parent_path().empty() ? fs::path(".") : path_.parent_path();
    if (!fs::exists(parent, ec)) {
        fs::create_directories(parent, ec);
        if (ec)
            return std::unexpected(fmt::format("creating {}: {}", parent.string(), ec.message()));
        fs::permissions(parent, fs::perms(0755), ec);
    }
    auto status = fs::symlink_status(path_, ec);
    if (fs::exists(status)) {
        if (!fs::is_socket(status))
            return std::unexpected(
                fmt::format("{} exists and is not a socket; not replacing it", path_.string()));
        if (someone_listens(path_))
            return std::unexpected(fmt::format(
                "{}: another daemon answers on this socket; not taking it over", path_.string()));
        spdlog::info("removing stale socket {}", path_.string());
        fs::remove(path_, ec);
        if (ec)
            return std::unexpected(fmt::format("removing {}: {}", path_.string(), ec.message()));
    }

    boost::system::error_code error;
    acceptor_.open(Local(), error);
    if (!error) acceptor_.bind(Local::endpoint(path_.string()), error);
    if (error)
        return std::unexpected(fmt::format("binding {}: {}", path_.string(), error.message()));
    bound_ = true;
    // Before listen(): nobody can connect yet, so the brief umask-derived mode is harmless.
    if (::chmod(path_.c_str(), 0660) != 0)
        return std::unexpected(
            fmt::format("chmod 0660 {}: {}", path_.string(), std::strerror(errno)));
    acceptor_.listen(asio::socket_base::max_listen_connections, error);
    if (error)
        return std::unexpected(fmt::format("listening on {}: {}", path_.string(), error.message()));
    accept();
    return {};
}

void HttpServer::accept() {
    acceptor_.async_accept([this](const boost::system::error_code& error, Local::socket socket) {
        if (error == asio::error::operation_aborted || shared_->stopping) return;
        if (error) {
            // EMFILE and the like: keep serving the connections we have, try again.
            spdlog::warn("accept on {}: {}", path_.string(), error.message());
        } else {
            std::make_shared<HttpSession>(std::move(socket), shared_)->start();
        }
        accept();
    });
}

std::size_t HttpServer::connections() const {
    return shared_->sessions.size();
}

void HttpServer::stop() {
    if (shared_->stopping) return;
    shared_->stopping = true;
    shared_->trim_timer.cancel();  // would keep io_context::run() going for up to a second
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    if (bound_) {
        std::error_code ec;
        std::filesystem::remove(path_, ec);
        bound_ = false;
    }
    // shutdown() may close a session, which then leaves the set from its destructor later
    // (handlers still hold it); iterate over a copy anyway.
    auto sessions = shared_->sessions;
    for (auto* session : sessions)
        session->shutdown();
}

}  // namespace natctl::daemon
