#include "controller/daemon/ha_peer.hpp"

#include <charconv>
#include <ctime>
#include <functional>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace natctl::daemon {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

constexpr auto kPollInterval = 2s;
constexpr auto kReadTimeout = 1s;

// `name{label="value"} 1` → value of `label` in a sample of `name` whose value is 1.
std::optional<std::string_view> label_of_set_sample(std::string_view line, std::string_view name,
                                                    std::string_view label) {
    if (!line.starts_with(name) || line.size() <= name.size() || line[name.size()] != '{')
        return std::nullopt;
    if (!line.ends_with("} 1")) return std::nullopt;
    auto key = std::string(label) + "=\"";
    auto at = line.find(key);
    if (at == std::string_view::npos) return std::nullopt;
    auto start = at + key.size();
    auto end = line.find('"', start);
    if (end == std::string_view::npos) return std::nullopt;
    return line.substr(start, end - start);
}

}  // namespace

PeerState parse_peer_metrics(std::string_view text) {
    PeerState state;
    while (!text.empty()) {
        auto end = text.find('\n');
        auto line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        if (line.starts_with("natctl_revision ")) {
            auto value = line.substr(std::string_view("natctl_revision ").size());
            std::uint64_t revision = 0;
            // Prometheus may write a large integer as a float ("1e+06"); natctl writes digits.
            if (auto [ptr, error] =
                    std::from_chars(value.data(), value.data() + value.size(), revision);
                error == std::errc{})
                state.revision = revision;
        } else if (auto role = label_of_set_sample(line, "natctl_ha_role", "role")) {
            state.role = *role;
        } else if (auto digest = label_of_set_sample(line, "natctl_ha_model_info", "digest")) {
            state.digest = *digest;
        }
    }
    return state;
}

struct PeerWatcher::Poll : std::enable_shared_from_this<PeerWatcher::Poll> {
    explicit Poll(asio::io_context& io) : stream(io) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::empty_body> request{http::verb::get, "/metrics", 11};
    http::response<http::string_body> response;
    std::function<void(std::string error, std::string body)> done;
    bool finished = false;

    void finish(std::string error) {
        if (finished) return;
        finished = true;
        beast::error_code ignored;
        stream.socket().close(ignored);
        done(std::move(error), std::move(response.body()));
    }
};

PeerWatcher::PeerWatcher(asio::io_context& io, asio::ip::tcp::endpoint endpoint)
    : io_(io), endpoint_(std::move(endpoint)), timer_(io) {}

PeerWatcher::~PeerWatcher() {
    stop();
}

void PeerWatcher::start() {
    stopped_ = false;
    poll();
}

void PeerWatcher::stop() {
    stopped_ = true;
    timer_.cancel();
    if (current_) {
        current_->done = [](std::string, std::string) {};
        beast::error_code ignored;
        current_->stream.socket().close(ignored);
        current_.reset();
    }
}

void PeerWatcher::schedule() {
    if (stopped_) return;
    timer_.expires_after(kPollInterval);
    timer_.async_wait([this](const boost::system::error_code& error) {
        if (!error && !stopped_) poll();
    });
}

void PeerWatcher::poll() {
    auto attempt = std::make_shared<Poll>(io_);
    current_ = attempt;
    attempt->request.set(http::field::host, endpoint_.address().to_string());
    attempt->done = [this](std::string error, std::string body) {
        current_.reset();
        if (error.empty()) {
            auto seen = parse_peer_metrics(body);
            seen.reachable = true;
            seen.last_seen = std::time(nullptr);
            state_ = std::move(seen);
        } else {
            state_.reachable = false;
            state_.error = std::move(error);
        }
        schedule();
    };
    attempt->stream.expires_after(kReadTimeout);
    attempt->stream.async_connect(endpoint_, [attempt](beast::error_code connect_error) {
        if (connect_error) return attempt->finish("connect: " + connect_error.message());
        http::async_write(
            attempt->stream, attempt->request,
            [attempt](beast::error_code write_error, std::size_t) {
                if (write_error) return attempt->finish("write: " + write_error.message());
                http::async_read(
                    attempt->stream, attempt->buffer, attempt->response,
                    [attempt](beast::error_code read_error, std::size_t) {
                        if (read_error) return attempt->finish("read: " + read_error.message());
                        if (attempt->response.result_int() != 200)
                            return attempt->finish("HTTP " +
                                                   std::to_string(attempt->response.result_int()));
                        attempt->finish({});
                    });
            });
    });
}

}  // namespace natctl::daemon
