// keepalived's notify FIFO (`vrrp_notify_fifo` in keepalived.conf): keepalived writes one
// line per VRRP transition, `INSTANCE "natctl" MASTER 150`, at the moment of the transition.
// natctld reads it itself, so a takeover starts without a notify script: no fork and exec
// of the CLI, no HTTP round trip (docs/HA.md).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/streambuf.hpp>

namespace natctl::daemon {

struct KeepalivedNotice {
    std::string kind;   // INSTANCE or GROUP
    std::string name;   // the vrrp_instance or vrrp_sync_group
    std::string state;  // MASTER, BACKUP, FAULT, STOP, ...
    int priority = 0;
    bool operator==(const KeepalivedNotice&) const = default;
};

// One line of the FIFO; nullopt for anything else (keepalived's checker lines, garbage).
std::optional<KeepalivedNotice> parse_keepalived_notice(std::string_view line);

class KeepalivedFifo {
  public:
    using Handler = std::function<void(const KeepalivedNotice&)>;
    KeepalivedFifo(boost::asio::io_context& io, std::filesystem::path path, Handler handler);
    KeepalivedFifo(const KeepalivedFifo&) = delete;
    KeepalivedFifo& operator=(const KeepalivedFifo&) = delete;

    // Creates the FIFO when it does not exist (keepalived then leaves it in place when it
    // stops) and reads it. Opened read-write: a restarting keepalived never makes it EOF.
    std::optional<std::string> open();
    // When the path no longer names the FIFO being read (removed, replaced), opens it again;
    // keepalived would otherwise write to a FIFO nobody reads.
    void reopen_if_replaced();
    void close();
    const std::filesystem::path& path() const { return path_; }

  private:
    void read_some();

    std::filesystem::path path_;
    Handler handler_;
    boost::asio::posix::stream_descriptor stream_;
    boost::asio::streambuf buffer_;
    dev_t device_ = 0;
    ino_t inode_ = 0;
};

}  // namespace natctl::daemon
