// What every daemon-facing command shares: reaching natctld (exit 3 when it cannot be
// reached), reading the model with its revision, and sending a write guarded by If-Match
// and printing its plan or its refusal (exit 1; 4 and 5 for the kernel's refusal and an
// unknown outcome: cli/exit_codes.hpp).
#pragma once

#include <expected>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/daemon_client.hpp"
#include "cli/global_options.hpp"
#include "cli/object_requests.hpp"

namespace natctl::cli {

// The model as GET /v1/config returned it, and its ETag to send back as If-Match.
struct Config {
    nlohmann::json model;
    std::string etag;
};

class Session {
  public:
    explicit Session(const GlobalOptions& globals);

    // The answer, whatever its status; on a transport failure the message is printed and
    // the error is the exit code.
    std::expected<HttpAnswer, int> call(const HttpCall& call) const;
    // A GET whose answer must be 200 with a JSON body; otherwise the reasons are printed
    // and the error is the exit code.
    std::expected<nlohmann::json, int> get_json(const std::string& target,
                                                std::string* etag = nullptr) const;
    std::expected<Config, int> read_config() const;
    // Sends a write with `If-Match: if_match`, prints the plan (or the JSON answer with
    // -o json) or the refusal, and returns the exit code.
    int write(const std::string& method, const std::string& target,
              const std::optional<std::string>& body, const std::string& if_match,
              bool dry_run) const;
    int write(const ApiRequest& request, const std::string& if_match, bool dry_run) const;

    const GlobalOptions& globals() const { return globals_; }
    bool json_output() const { return globals_.output == OutputFormat::Json; }

  private:
    const GlobalOptions& globals_;
    DaemonClient client_;
};

// Pretty-printed JSON on standard output, for -o json.
void print_json(const nlohmann::json& document);
// `natctl: MESSAGE` on standard error.
void print_failure(const std::string& message);

}  // namespace natctl::cli
