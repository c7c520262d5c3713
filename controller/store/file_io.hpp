// The few POSIX file operations the store needs for durability, with errors as messages
// that name the file and the failing call.
#pragma once

#include <expected>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace natctl::store {

// Owns a file descriptor; closes it once.
class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) reset(std::exchange(other.fd_, -1));
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    void reset(int fd = -1);

  private:
    int fd_ = -1;
};

using Status = std::expected<void, std::string>;

// "<what> <path>: <strerror(errno)>"
std::string os_error(std::string_view what, const std::filesystem::path& path);

std::expected<UniqueFd, std::string> open_file(const std::filesystem::path& path, int flags,
                                               int mode = 0600);
std::expected<std::string, std::string> read_file(const std::filesystem::path& path);
Status write_all(int fd, std::string_view bytes, const std::filesystem::path& path);
// The parts one after the other; small ones are gathered into one write.
Status write_all(int fd, std::span<const std::string_view> parts,
                 const std::filesystem::path& path);
Status sync_file(int fd, const std::filesystem::path& path);
// Makes a rename or a new file in the directory durable.
Status sync_directory(const std::filesystem::path& dir);
// Temporary file, fsync, rename over `path`, fsync of the directory: after a crash `path`
// holds either the old or the new content, never a mix.
Status replace_file_atomically(const std::filesystem::path& path, std::string_view content);
// Its two steps, for a caller that must know whether a failure came after the rename (then
// `path` may hold either content after a crash). The content is `parts` concatenated.
Status write_temporary(const std::filesystem::path& temporary,
                       std::span<const std::string_view> parts);
Status rename_durably(const std::filesystem::path& temporary, const std::filesystem::path& path);
// `path` with ".tmp" appended: where replace_file_atomically writes first.
std::filesystem::path temporary_of(const std::filesystem::path& path);

}  // namespace natctl::store
