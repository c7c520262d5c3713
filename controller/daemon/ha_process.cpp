#include "controller/daemon/ha_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace natctl::daemon {
namespace {

constexpr std::size_t kMaxOutput = 64 * 1024;

class Fd {
  public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

  private:
    int fd_;
};

struct SpawnActions {
    posix_spawn_file_actions_t actions;
    SpawnActions() { posix_spawn_file_actions_init(&actions); }
    ~SpawnActions() { posix_spawn_file_actions_destroy(&actions); }
    SpawnActions(const SpawnActions&) = delete;
    SpawnActions& operator=(const SpawnActions&) = delete;
};

}  // namespace

std::expected<CommandResult, std::string> run_command(const std::vector<std::string>& argv,
                                                      std::chrono::milliseconds timeout) {
    if (argv.empty()) return std::unexpected(std::string("no command"));
    const auto started = std::chrono::steady_clock::now();
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
        return std::unexpected(fmt::format("pipe: {}", std::strerror(errno)));
    Fd read_end(pipe_fds[0]);
    Fd write_end(pipe_fds[1]);
    SpawnActions spawn;
    posix_spawn_file_actions_addopen(&spawn.actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&spawn.actions, write_end.get(), 1);
    posix_spawn_file_actions_adddup2(&spawn.actions, write_end.get(), 2);
    std::vector<char*> args;
    for (const auto& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    if (int error =
            ::posix_spawn(&pid, argv[0].c_str(), &spawn.actions, nullptr, args.data(), environ);
        error != 0)
        return std::unexpected(fmt::format("{}: {}", argv[0], std::strerror(error)));
    write_end.reset();

    CommandResult result;
    const auto deadline = started + timeout;
    bool killed = false;
    char buffer[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(pid, SIGKILL);
            killed = true;
            break;
        }
        pollfd wait{read_end.get(), POLLIN, 0};
        int ready = ::poll(&wait, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue;
        auto got = ::read(read_end.get(), buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;  // every writer closed: the program is done (or daemonised)
        if (result.output.size() < kMaxOutput)
            result.output.append(buffer, std::min<std::size_t>(static_cast<std::size_t>(got),
                                                               kMaxOutput - result.output.size()));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.took = std::chrono::steady_clock::now() - started;
    if (!killed && WIFEXITED(status)) result.exit_status = WEXITSTATUS(status);
    if (killed) result.output += fmt::format("(killed after {} ms)", timeout.count());
    return result;
}

}  // namespace natctl::daemon
