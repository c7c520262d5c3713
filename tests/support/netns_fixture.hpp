// A throwaway network namespace per kernel test: created with a unique name
// (natctl-k-<pid>-<n>) and deleted when the guard goes out of scope, also when the test
// fails. Netlink sockets opened while a ScopedNetns for it is active belong to it.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "netlink/netns.hpp"

namespace natctl::testing {

struct CommandResult {
    int exit_code = -1;
    std::string output;  // stdout and stderr
};

inline CommandResult run_command(const std::string& command) {
    CommandResult result;
    struct PipeClose {
        void operator()(FILE* pipe) const { pclose(pipe); }
    };
    FILE* raw = popen((command + " 2>&1").c_str(), "r");
    if (!raw) return result;
    std::array<char, 4096> chunk{};
    std::size_t read = 0;
    while ((read = fread(chunk.data(), 1, chunk.size(), raw)) > 0)
        result.output.append(chunk.data(), read);
    int status = pclose(raw);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

class TestNetns {
  public:
    // Creates the namespace; nullopt (with the reason in `error`) when that is impossible.
    static std::optional<TestNetns> create(std::string* error = nullptr) {
        static std::atomic<int> counter{0};
        auto name = fmt::format("natctl-k-{}-{}", ::getpid(), counter++);
        auto added = run_command(fmt::format("ip netns add {}", name));
        if (added.exit_code != 0) {
            if (error) *error = added.output;
            return std::nullopt;
        }
        TestNetns netns(name);
        // The loopback device is down in a fresh namespace; nothing here needs it up, but
        // bringing it up makes the namespace look like a normal host to tests that do.
        run_command(fmt::format("ip -n {} link set lo up", name));
        return netns;
    }

    TestNetns(TestNetns&& other) noexcept : name_(std::move(other.name_)) { other.name_.clear(); }
    TestNetns& operator=(TestNetns&&) = delete;
    TestNetns(const TestNetns&) = delete;
    TestNetns& operator=(const TestNetns&) = delete;
    ~TestNetns() {
        if (!name_.empty()) run_command(fmt::format("ip netns del {}", name_));
    }

    const std::string& name() const { return name_; }

    // Runs a shell command inside the namespace.
    CommandResult run(const std::string& command) const {
        return run_command(fmt::format("ip netns exec {} sh -c '{}'", name_, command));
    }

    // Enters the namespace on the calling thread until the returned scope ends.
    netlink::ScopedNetns enter() const {
        auto scope = netlink::ScopedNetns::enter(name_);
        if (!scope) {
            std::fprintf(stderr, "cannot enter %s: %s\n", name_.c_str(), scope.error().c_str());
            std::abort();
        }
        return std::move(*scope);
    }

  private:
    explicit TestNetns(std::string name) : name_(std::move(name)) {}
    std::string name_;
};

}  // namespace natctl::testing
