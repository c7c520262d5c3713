// A failure as every layer from netlink/ up to the API reports it: its kind, which tells the
// caller what state the kernel is in and decides the HTTP status the API answers with
// (docs/API.md, "Conventions"); the model path it concerns; and what happened. Below the
// API only KernelRefused, OutcomeUnknown, Invalid and Internal arise; NotFound, Conflict and
// Unavailable are the API's own refusals, named here so that every answer has one kind.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace natctl::util {

enum class ErrorKind : std::uint8_t {
    Invalid,         // the request or the model is wrong; nothing changed
    NotFound,        // the endpoint or object does not exist
    Conflict,        // the request contradicts the current state (exists, in use, stale)
    KernelRefused,   // the kernel answered an error (or never got the request): it is as it was
    OutcomeUnknown,  // the kernel may or may not hold the change: it must be read again
    Unavailable,     // a part of natctld the request needs is not running
    Internal,        // natctl's own bug, or its storage
};

struct Error {
    ErrorKind kind = ErrorKind::Internal;
    std::string path;  // in the model (nat_gateways[0].dnat_entries[2]); "" when none
    std::string message;

    bool operator==(const Error&) const = default;
};

// The kind's name in API answers: "invalid", "kernel_refused", ...
constexpr std::string_view to_string(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::Invalid:
            return "invalid";
        case ErrorKind::NotFound:
            return "not_found";
        case ErrorKind::Conflict:
            return "conflict";
        case ErrorKind::KernelRefused:
            return "kernel_refused";
        case ErrorKind::OutcomeUnknown:
            return "outcome_unknown";
        case ErrorKind::Unavailable:
            return "unavailable";
        case ErrorKind::Internal:
            return "internal";
    }
    return "internal";
}

// "path: message", or the message alone: for logs and status lines, which have no field
// of their own for the path.
inline std::string describe(const Error& error) {
    return error.path.empty() ? error.message : fmt::format("{}: {}", error.path, error.message);
}

// "EEXIST (File exists)": the errno's name as the kernel headers spell it, which an operator
// can look up, and its text.
inline std::string errno_text(int error_number) {
    const char* name = ::strerrorname_np(error_number);
    const char* text = std::strerror(error_number);
    if (!name) return text;
    return fmt::format("{} ({})", name, text);
}

}  // namespace natctl::util
