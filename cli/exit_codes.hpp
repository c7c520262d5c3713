// Exit codes of natctl (DESIGN.md, "Command line"); scripts and Ansible rely on them.
#pragma once

namespace natctl::cli {

enum ExitCode : int {
    kExitSuccess = 0,
    kExitRefused = 1,      // validation, conflict or protection; reasons on stderr
    kExitUsage = 2,        // bad command line, unreadable input file
    kExitUnreachable = 3,  // the daemon could not be reached
};

}  // namespace natctl::cli
