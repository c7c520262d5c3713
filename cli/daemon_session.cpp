#include "cli/daemon_session.hpp"

#include <chrono>
#include <cstdio>

#include <fmt/core.h>

#include "cli/api_format.hpp"
#include "cli/exit_codes.hpp"

namespace natctl::cli {

namespace {

using nlohmann::json;

void print_refusal(const HttpAnswer& answer) {
    for (const auto& line : answer_error_lines(answer.status, answer.body))
        fmt::print(stderr, "{}\n", line);
}

bool success(unsigned status) {
    return status >= 200 && status < 300;
}

}  // namespace

Session::Session(const GlobalOptions& globals)
    : globals_(globals),
      client_(globals.socket_path, std::chrono::seconds(globals.timeout_seconds)) {}

std::expected<HttpAnswer, int> Session::call(const HttpCall& call) const {
    auto answer = client_.send(call);
    if (!answer) {
        print_failure(
            fmt::format("cannot reach natctld at {}: {}", client_.socket_path(), answer.error()));
        return std::unexpected(kExitUnreachable);
    }
    return std::move(*answer);
}

std::expected<json, int> Session::get_json(const std::string& target, std::string* etag) const {
    auto answer = call({"GET", target, {}, std::nullopt});
    if (!answer) return std::unexpected(answer.error());
    if (!success(answer->status)) {
        print_refusal(*answer);
        return std::unexpected(exit_code_for_status(answer->status));
    }
    json document = json::parse(answer->body, nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded()) {
        print_failure(fmt::format("natctld answered GET {} with a body that is not JSON", target));
        return std::unexpected(kExitRefused);
    }
    if (etag) *etag = answer->etag;
    return document;
}

std::expected<Config, int> Session::read_config() const {
    Config config;
    auto model = get_json("/v1/config", &config.etag);
    if (!model) return std::unexpected(model.error());
    // Without the revision a write could not be guarded against a concurrent one; refuse
    // rather than send an unguarded write.
    if (!revision_of_etag(config.etag)) {
        print_failure("natctld sent no revision (ETag) with the configuration; nothing was sent");
        return std::unexpected(kExitRefused);
    }
    config.model = std::move(*model);
    return config;
}

int Session::write(const std::string& method, const std::string& target,
                   const std::optional<std::string>& body, const std::string& if_match,
                   bool dry_run) const {
    auto answer = call({method, target, {{"If-Match", if_match}}, body});
    if (!answer) return answer.error();
    if (answer->status == 412) {
        fmt::print(stderr, "{}\n", stale_revision_message(if_match));
        print_refusal(*answer);  // the daemon names the current revision
        return kExitRefused;
    }
    if (!success(answer->status)) {
        print_refusal(*answer);
        return exit_code_for_status(answer->status);
    }
    const json result = json::parse(answer->body, nullptr, /*allow_exceptions=*/false);
    if (result.is_discarded()) {
        // The write was accepted; only its report is unreadable. Saying so beats a failure
        // exit code that would make a script retry a write that took effect.
        print_failure(
            fmt::format("natctld accepted {} {} but its answer is not JSON", method, target));
        return kExitSuccess;
    }
    if (json_output())
        print_json(result);
    else
        fmt::print("{}", format_write_result(result, dry_run));
    return kExitSuccess;
}

int Session::write(const ApiRequest& request, const std::string& if_match, bool dry_run) const {
    std::optional<std::string> body;
    // Replace rather than throw on invalid UTF-8 typed on the command line: the daemon's
    // validator then names the field.
    if (request.body) body = request.body->dump(-1, ' ', false, json::error_handler_t::replace);
    return write(request.method, request.target, body, if_match, dry_run);
}

void print_json(const json& document) {
    fmt::print("{}\n", document.dump(2, ' ', false, json::error_handler_t::replace));
}

void print_failure(const std::string& message) {
    fmt::print(stderr, "natctl: {}\n", message);
}

}  // namespace natctl::cli
