// Request plumbing shared by the API's handlers: target parsing, JSON answers, errors.
#pragma once

#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/api/service.hpp"
#include "controller/model/types.hpp"
#include "util/error.hpp"

namespace natctl::api {

// A refusal: the status and every reason, answered as {"errors": [...]}.
struct Failure {
    int status = 400;
    model::Errors errors;
};

Failure failure(int status, std::string path, std::string reason);
// A failure from below the API (the data plane): its status follows its kind, its path is
// the error's.
Failure failure(const util::Error& error, std::string reason);

// The status each kind is answered with, and the kind each status the API answers with
// stands for (docs/API.md, "Conventions"): Invalid is 422 (400, 405 and 413 are invalid
// too), Conflict 409 (412 too), KernelRefused 502, OutcomeUnknown 504, Internal 500.
int status_of(util::ErrorKind kind);
util::ErrorKind kind_of(int status);

struct Target {
    std::string path;                          // percent-encoded, as sent
    std::vector<std::string> segments;         // decoded, split on '/'
    std::map<std::string, std::string> query;  // decoded
};

// "/v1/a/b?x=1&y" → {"/v1/a/b", ["v1","a","b"], {x:1, y:""}}; an invalid escape is refused.
std::expected<Target, std::string> parse_target(std::string_view target);

// ?dry_run=1: "", "1" and "true" are on, "0" and "false" off, anything else refused.
std::expected<bool, Failure> query_flag(const Target& target, const std::string& name);

HttpResponse json_response(int status, const nlohmann::json& body);
HttpResponse error_response(const Failure& failure);

}  // namespace natctl::api
