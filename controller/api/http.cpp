#include "controller/api/http.hpp"

#include <fmt/format.h>

#include <utility>

namespace natctl::api {
namespace {

std::expected<std::string, std::string> percent_decode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+' && plus_is_space) {
            out.push_back(' ');
        } else if (text[i] == '%') {
            if (i + 2 >= text.size())
                return std::unexpected(fmt::format("incomplete escape in '{}'", text));
            int high = hex(text[i + 1]), low = hex(text[i + 2]);
            if (high < 0 || low < 0)
                return std::unexpected(fmt::format("invalid escape in '{}'", text));
            out.push_back(static_cast<char>(high * 16 + low));
            i += 2;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

// Every status the API answers errors with, and its kind; a kind's first row is the status
// it is answered with when it comes from below the API (failure(const util::Error&)).
struct StatusKind {
    int status;
    util::ErrorKind kind;
};
constexpr StatusKind kStatusKinds[] = {
    {422, util::ErrorKind::Invalid},        {400, util::ErrorKind::Invalid},
    {405, util::ErrorKind::Invalid},        {413, util::ErrorKind::Invalid},
    {404, util::ErrorKind::NotFound},       {409, util::ErrorKind::Conflict},
    {412, util::ErrorKind::Conflict},       {500, util::ErrorKind::Internal},
    {502, util::ErrorKind::KernelRefused},  {503, util::ErrorKind::Unavailable},
    {504, util::ErrorKind::OutcomeUnknown},
};

}  // namespace

Failure failure(int status, std::string path, std::string reason) {
    return {status, {model::Error{std::move(path), std::move(reason)}}};
}

Failure failure(const util::Error& error, std::string reason) {
    return failure(status_of(error.kind), error.path, std::move(reason));
}

int status_of(util::ErrorKind kind) {
    for (const auto& row : kStatusKinds)
        if (row.kind == kind) return row.status;
    return 500;
}

util::ErrorKind kind_of(int status) {
    for (const auto& row : kStatusKinds)
        if (row.status == status) return row.kind;
    return util::ErrorKind::Internal;
}

std::expected<Target, std::string> parse_target(std::string_view target) {
    Target out;
    const auto question = target.find('?');
    const std::string_view path = target.substr(0, question);
    out.path = std::string(path);
    // Segments are split before decoding so that an encoded '/' stays inside its segment.
    std::size_t start = 0;
    while (start <= path.size()) {
        auto end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        if (end > start) {
            auto segment = percent_decode(path.substr(start, end - start), false);
            if (!segment) return std::unexpected(segment.error());
            out.segments.push_back(std::move(*segment));
        }
        start = end + 1;
    }
    if (question == std::string_view::npos) return out;
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        auto equals = pair.find('=');
        auto key = percent_decode(pair.substr(0, equals), true);
        auto value = percent_decode(
            equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1), true);
        if (!key) return std::unexpected(key.error());
        if (!value) return std::unexpected(value.error());
        out.query[*key] = *value;
    }
    return out;
}

std::expected<bool, Failure> query_flag(const Target& target, const std::string& name) {
    auto it = target.query.find(name);
    if (it == target.query.end()) return false;
    if (it->second.empty() || it->second == "1" || it->second == "true") return true;
    if (it->second == "0" || it->second == "false") return false;
    return std::unexpected(failure(
        400, "?" + name, fmt::format("expected 1, true, 0 or false, got '{}'", it->second)));
}

HttpResponse json_response(int status, const nlohmann::json& body) {
    HttpResponse response;
    response.status = status;
    response.headers.emplace_back("Content-Type", "application/json");
    // Reasons echo request text (field names, path segments) that need not be UTF-8; a
    // throwing dump would turn a bad request into a dropped connection.
    response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return response;
}

HttpResponse error_response(const Failure& refusal) {
    nlohmann::json errors = nlohmann::json::array();
    const auto kind = std::string(util::to_string(kind_of(refusal.status)));
    for (const auto& error : refusal.errors)
        errors.push_back({{"path", error.path}, {"reason", error.reason}, {"kind", kind}});
    return json_response(refusal.status, {{"errors", errors}});
}

}  // namespace natctl::api
