// Exit codes of natctl (DESIGN.md, "Command line"); scripts and Ansible rely on them.
#pragma once

namespace natctl::cli {

enum ExitCode : int {
    kExitSuccess = 0,
    kExitRefused = 1,         // validation, conflict or protection (and natctld's own errors)
    kExitUsage = 2,           // bad command line, unreadable input file
    kExitUnreachable = 3,     // the daemon could not be reached
    kExitKernelRefused = 4,   // the kernel refused the change (HTTP 502): nothing changed
    kExitOutcomeUnknown = 5,  // the kernel's answer was lost (HTTP 504): natctld repairs it
};

// The exit code for natctld's answer with HTTP `status` (not 2xx). The kernel's refusals
// and unknown outcomes have their own codes, so that a script can retry the first and
// check (natctl status) after the second; every other refusal is 1.
constexpr ExitCode exit_code_for_status(unsigned status) {
    switch (status) {
        case 502:
            return kExitKernelRefused;
        case 504:
            return kExitOutcomeUnknown;
        default:
            return kExitRefused;
    }
}

}  // namespace natctl::cli
