#include "controller/store/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace natctl::store {

void UniqueFd::reset(int fd) {
    // close() errors are not actionable here: durability comes from the explicit fsyncs.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

std::string os_error(std::string_view what, const std::filesystem::path& path) {
    return fmt::format("{} {}: {}", what, path.string(), std::strerror(errno));
}

std::expected<UniqueFd, std::string> open_file(const std::filesystem::path& path, int flags,
                                               int mode) {
    int fd;
    do {
        fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return std::unexpected(os_error("open", path));
    return UniqueFd(fd);
}

std::expected<std::string, std::string> read_file(const std::filesystem::path& path) {
    auto fd = open_file(path, O_RDONLY);
    if (!fd) return std::unexpected(fd.error());
    std::string content;
    struct stat info {};
    if (::fstat(fd->get(), &info) == 0 && info.st_size > 0)
        content.reserve(static_cast<std::size_t>(info.st_size));
    char buffer[65536];
    for (;;) {
        ssize_t got = ::read(fd->get(), buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return std::unexpected(os_error("read", path));
        if (got == 0) break;
        content.append(buffer, static_cast<std::size_t>(got));
    }
    return content;
}

Status write_all(int fd, std::string_view bytes, const std::filesystem::path& path) {
    while (!bytes.empty()) {
        ssize_t put = ::write(fd, bytes.data(), bytes.size());
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) return std::unexpected(os_error("write", path));
        bytes.remove_prefix(static_cast<std::size_t>(put));
    }
    return {};
}

Status sync_file(int fd, const std::filesystem::path& path) {
    // fdatasync also flushes a changed file size, which is all an append or a truncate needs.
    if (::fdatasync(fd) != 0) return std::unexpected(os_error("fdatasync", path));
    return {};
}

Status sync_directory(const std::filesystem::path& dir) {
    auto fd = open_file(dir, O_RDONLY | O_DIRECTORY);
    if (!fd) return std::unexpected(fd.error());
    if (::fsync(fd->get()) != 0) return std::unexpected(os_error("fsync", dir));
    return {};
}

Status write_all(int fd, std::span<const std::string_view> parts,
                 const std::filesystem::path& path) {
    constexpr std::size_t gather_below = std::size_t{64} << 10;
    std::string gathered;
    auto flush = [&]() -> Status {
        auto written = write_all(fd, gathered, path);
        gathered.clear();
        return written;
    };
    for (auto part : parts) {
        if (part.size() < gather_below) {
            gathered += part;
            if (gathered.size() < gather_below) continue;
            if (auto flushed = flush(); !flushed) return flushed;
            continue;
        }
        if (auto flushed = flush(); !flushed) return flushed;
        if (auto written = write_all(fd, part, path); !written) return written;
    }
    return flush();
}

std::filesystem::path temporary_of(const std::filesystem::path& path) {
    std::filesystem::path temporary = path;
    temporary += ".tmp";
    return temporary;
}

Status write_temporary(const std::filesystem::path& temporary,
                       std::span<const std::string_view> parts) {
    auto fd = open_file(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (!fd) return std::unexpected(fd.error());
    if (auto written = write_all(fd->get(), parts, temporary); !written) return written;
    if (::fsync(fd->get()) != 0) return std::unexpected(os_error("fsync", temporary));
    return {};
}

Status rename_durably(const std::filesystem::path& temporary, const std::filesystem::path& path) {
    if (::rename(temporary.c_str(), path.c_str()) != 0)
        return std::unexpected(os_error("rename to " + path.string(), temporary));
    return sync_directory(path.parent_path());
}

Status replace_file_atomically(const std::filesystem::path& path, std::string_view content) {
    const auto temporary = temporary_of(path);
    const std::string_view parts[] = {content};
    if (auto written = write_temporary(temporary, parts); !written) return written;
    return rename_durably(temporary, path);
}

}  // namespace natctl::store
