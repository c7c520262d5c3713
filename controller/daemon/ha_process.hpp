// Runs a helper program (conntrackd's client commands) and waits for it, with a deadline.
#pragma once

#include <chrono>
#include <expected>
#include <string>
#include <vector>

namespace natctl::daemon {

struct CommandResult {
    int exit_status = -1;  // the exit code; -1 when killed by a signal or the deadline
    std::string output;    // stdout and stderr, interleaved, up to 64 KiB
    std::chrono::duration<double> took{0};
};

// argv[0] is an absolute path. Fails only when the program could not be started; a non-zero
// exit is a result. A program past `timeout` is killed (SIGKILL) and reported as such.
std::expected<CommandResult, std::string> run_command(const std::vector<std::string>& argv,
                                                      std::chrono::milliseconds timeout);

}  // namespace natctl::daemon
