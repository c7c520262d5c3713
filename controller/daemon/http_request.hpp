// What the API sees of an HTTP request beast parsed off the socket. Shared by natctld's
// server and the HTTP fuzz target (fuzz/http_request.cpp), so that both run the same
// conversion.
#pragma once

#include <cstdint>
#include <optional>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "controller/api/service.hpp"

namespace natctl::daemon {

using HttpMessage = boost::beast::http::request<boost::beast::http::string_body>;
using HttpRequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// A parser with the API's limits (api::Service::kMaxBodyBytes).
void limit_request_parser(HttpRequestParser& parser);

// Lower-case header names, repeated fields joined with ", " (RFC 9110 5.3); the body is
// moved out of `message`.
api::HttpRequest to_api_request(HttpMessage& message, std::optional<std::uint32_t> peer_uid);

}  // namespace natctl::daemon
