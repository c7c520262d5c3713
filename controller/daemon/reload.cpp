#include "controller/daemon/reload.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

namespace natctl::daemon {

std::filesystem::path reload_record_path(const std::filesystem::path& socket) {
    return socket.parent_path() / "natctld.reload";
}

std::expected<void, std::string> write_reload_record(const std::filesystem::path& path,
                                                     const ReloadRecord& record) {
    auto temporary = path;
    temporary += fmt::format(".{}", ::getpid());
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << record.pid << ' ' << record.generation << ' '
            << (record.refused.empty() ? "ok" : "refused: " + record.refused) << '\n';
        out.flush();
        if (!out) return std::unexpected(fmt::format("{}: cannot write", temporary.string()));
    }
    std::error_code error;
    std::filesystem::rename(temporary, path, error);
    if (error) {
        std::filesystem::remove(temporary, error);
        return std::unexpected(fmt::format("{}: {}", path.string(), error.message()));
    }
    return {};
}

std::optional<ReloadRecord> read_reload_record(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) return std::nullopt;
    std::istringstream fields(line);
    ReloadRecord record;
    std::string outcome;
    if (!(fields >> record.pid >> record.generation >> outcome)) return std::nullopt;
    if (outcome == "ok") return record;
    if (outcome != "refused:") return std::nullopt;
    std::getline(fields >> std::ws, record.refused);
    if (record.refused.empty()) record.refused = "refused";
    return record;
}

std::expected<ReloadRecord, std::string> reload_and_wait(pid_t pid,
                                                         const std::filesystem::path& record,
                                                         std::chrono::milliseconds timeout) {
    using namespace std::chrono_literals;
    // A record of another process (a previous natctld) says nothing about this one.
    std::optional<std::uint64_t> before;
    if (auto last = read_reload_record(record); last && last->pid == pid) before = last->generation;
    if (::kill(pid, SIGHUP) != 0)
        return std::unexpected(fmt::format("SIGHUP to {}: {}", pid, std::strerror(errno)));
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
        if (auto now = read_reload_record(record);
            now && now->pid == pid && now->generation > before.value_or(0))
            return *now;
        if (::kill(pid, 0) != 0 && errno == ESRCH)
            return std::unexpected(fmt::format("natctld {} exited during the reload", pid));
    }
    return std::unexpected(fmt::format("natctld {} did not record a reload in {} within {} ms", pid,
                                       record.string(), timeout.count()));
}

}  // namespace natctl::daemon
