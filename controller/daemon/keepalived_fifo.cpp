#include "controller/daemon/keepalived_fifo.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <istream>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/read_until.hpp>

namespace natctl::daemon {
namespace {

// Lines are short; anything longer is not keepalived's and is skipped.
constexpr std::size_t kMaxLine = 4096;

std::string_view next_word(std::string_view& rest) {
    auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) {
        rest = {};
        return {};
    }
    rest.remove_prefix(start);
    auto end = rest.find(' ');
    auto word = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    return word;
}

}  // namespace

std::optional<KeepalivedNotice> parse_keepalived_notice(std::string_view line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' '))
        line.remove_suffix(1);
    KeepalivedNotice notice;
    auto rest = line;
    notice.kind = next_word(rest);
    if (notice.kind != "INSTANCE" && notice.kind != "GROUP") return std::nullopt;
    // "name" in quotes: keepalived quotes it, names may not hold a quote
    auto open_quote = rest.find('"');
    if (open_quote == std::string_view::npos ||
        rest.substr(0, open_quote).find_first_not_of(' ') != std::string_view::npos)
        return std::nullopt;
    auto close_quote = rest.find('"', open_quote + 1);
    if (close_quote == std::string_view::npos || close_quote == open_quote + 1) return std::nullopt;
    notice.name = rest.substr(open_quote + 1, close_quote - open_quote - 1);
    rest = rest.substr(close_quote + 1);
    notice.state = next_word(rest);
    if (notice.state.empty()) return std::nullopt;
    auto priority = next_word(rest);
    if (priority.empty() || !next_word(rest).empty()) return std::nullopt;
    auto [ptr, error] =
        std::from_chars(priority.data(), priority.data() + priority.size(), notice.priority);
    if (error != std::errc{} || ptr != priority.data() + priority.size()) return std::nullopt;
    return notice;
}

KeepalivedFifo::KeepalivedFifo(boost::asio::io_context& io, std::filesystem::path path,
                               Handler handler)
    : path_(std::move(path)), handler_(std::move(handler)), stream_(io), buffer_(kMaxLine) {}

std::optional<std::string> KeepalivedFifo::open() {
    close();
    const auto& name = path_.native();
    if (::mkfifo(name.c_str(), 0600) != 0 && errno != EEXIST)
        return fmt::format("{}: cannot create the FIFO: {}", name, std::strerror(errno));
    int fd = ::open(name.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return fmt::format("{}: {}", name, std::strerror(errno));
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISFIFO(info.st_mode)) {
        ::close(fd);
        return fmt::format("{}: exists and is not a FIFO", name);
    }
    device_ = info.st_dev;
    inode_ = info.st_ino;
    stream_.assign(fd);
    read_some();
    return std::nullopt;
}

void KeepalivedFifo::reopen_if_replaced() {
    struct stat info {};
    const bool same = ::stat(path_.c_str(), &info) == 0 && S_ISFIFO(info.st_mode) &&
                      info.st_dev == device_ && info.st_ino == inode_;
    if (same && stream_.is_open()) return;
    spdlog::warn("HA: {} was removed or replaced; reading it again", path_.string());
    if (auto error = open()) spdlog::error("HA: keepalived's notify FIFO: {}", *error);
}

void KeepalivedFifo::close() {
    boost::system::error_code ignored;
    if (stream_.is_open()) stream_.close(ignored);
    buffer_.consume(buffer_.size());
}

void KeepalivedFifo::read_some() {
    boost::asio::async_read_until(
        stream_, buffer_, '\n', [this](const boost::system::error_code& error, std::size_t size) {
            if (error == boost::asio::error::operation_aborted) return;
            if (error == boost::asio::error::not_found) {
                // a line longer than any keepalived writes: skip what is buffered
                spdlog::warn("HA: {}: skipped {} bytes without a line end", path_.string(),
                             buffer_.size());
                buffer_.consume(buffer_.size());
                read_some();
                return;
            }
            if (error) {
                spdlog::error("HA: reading {}: {}", path_.string(), error.message());
                close();  // reopen_if_replaced() finds it closed and opens it again
                return;
            }
            std::string line(size, '\0');
            std::istream(&buffer_).read(line.data(), static_cast<std::streamsize>(size));
            if (auto notice = parse_keepalived_notice(line))
                handler_(*notice);
            else
                spdlog::warn("HA: {}: not a keepalived notice: {}", path_.string(), line);
            read_some();
        });
}

}  // namespace natctl::daemon
