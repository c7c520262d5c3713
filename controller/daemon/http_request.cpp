#include "controller/daemon/http_request.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace natctl::daemon {

void limit_request_parser(HttpRequestParser& parser) {
    parser.body_limit(api::Service::kMaxBodyBytes);
}

api::HttpRequest to_api_request(HttpMessage& message, std::optional<std::uint32_t> peer_uid) {
    api::HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
        std::string name(field.name_string());
        std::ranges::transform(name, name.begin(),
                               [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        auto [it, inserted] = request.headers.emplace(name, std::string(field.value()));
        if (!inserted) it->second += ", " + std::string(field.value());
    }
    request.body = std::move(message.body());
    request.peer_uid = peer_uid;
    return request;
}

}  // namespace natctl::daemon
