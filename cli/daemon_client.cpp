#include "cli/daemon_client.hpp"

#include <cstdint>
#include <limits>
#include <optional>

#include <fmt/core.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "cli/version.hpp"

namespace natctl::cli {

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Socket = asio::local::stream_protocol::socket;
using Clock = std::chrono::steady_clock;

// Runs one asynchronous step on `io` until it completes or the deadline passes. Asio's
// synchronous calls have no timeout, so each step is started asynchronously and the loop
// is run for the time left; on expiry the socket is closed, which completes the pending
// operation with an error, and the loop is drained so no handler outlives this frame.
template <class Start>
boost::system::error_code run_step(asio::io_context& io, Socket& socket, Clock::time_point deadline,
                                   Start start) {
    std::optional<boost::system::error_code> result;
    start([&result](boost::system::error_code error, auto&&...) { result = error; });
    io.restart();
    const auto now = Clock::now();
    if (now < deadline) io.run_for(deadline - now);
    if (result) return *result;
    boost::system::error_code ignored;
    socket.close(ignored);
    io.restart();
    io.run();
    return asio::error::timed_out;
}

std::string describe(const boost::system::error_code& error, std::chrono::milliseconds timeout) {
    if (error == asio::error::timed_out)
        return fmt::format("no answer within {} s", (timeout.count() + 999) / 1000);
    if (error == http::error::end_of_stream || error == asio::error::eof ||
        error == http::error::partial_message)
        return "the connection was closed before a complete answer";
    return error.message();
}

}  // namespace

std::expected<HttpAnswer, std::string> DaemonClient::send(const HttpCall& call) const {
    const auto deadline = Clock::now() + timeout_;
    asio::io_context io;
    Socket socket(io);

    const asio::local::stream_protocol::endpoint endpoint(socket_path_);
    auto error = run_step(io, socket, deadline, [&](auto handler) {
        socket.async_connect(endpoint, std::move(handler));
    });
    if (error) return std::unexpected(describe(error, timeout_));

    http::request<http::string_body> request{http::string_to_verb(call.method), call.target, 11};
    request.set(http::field::host, "natctld");
    request.set(http::field::user_agent, fmt::format("natctl/{}", kVersion));
    request.set(http::field::accept, "application/json");
    request.set(http::field::connection, "close");
    for (const auto& [name, value] : call.headers)
        request.set(name, value);
    if (call.body) {
        request.set(http::field::content_type, "application/json");
        request.body() = *call.body;
    }
    request.prepare_payload();
    error = run_step(io, socket, deadline,
                     [&](auto handler) { http::async_write(socket, request, std::move(handler)); });
    if (error) return std::unexpected(describe(error, timeout_));

    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    // The whole model comes back from GET /v1/config; requests may be up to 64 MiB, so the
    // answer may be as large. Beast's 8 MiB default would refuse a legitimate model.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    error = run_step(io, socket, deadline, [&](auto handler) {
        http::async_read(socket, buffer, parser, std::move(handler));
    });
    if (error) return std::unexpected(describe(error, timeout_));

    auto& response = parser.get();
    HttpAnswer answer;
    answer.status = response.result_int();
    if (auto etag = response.find(http::field::etag); etag != response.end())
        answer.etag = std::string(etag->value());
    answer.body = std::move(response.body());
    return answer;
}

}  // namespace natctl::cli
