#include "netlink/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace natctl::netlink {

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.release();
    }
    return *this;
}

FileDescriptor::~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
}

std::expected<ScopedNetns, std::string> ScopedNetns::enter(const std::string& name) {
    FileDescriptor original(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!original)
        return std::unexpected(
            fmt::format("cannot open own network namespace: {}", std::strerror(errno)));
    auto path = "/run/netns/" + name;
    FileDescriptor target(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!target)
        return std::unexpected(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    if (::setns(target.get(), CLONE_NEWNET) != 0)
        return std::unexpected(
            fmt::format("cannot enter network namespace {}: {}", name, std::strerror(errno)));
    return ScopedNetns(std::move(original));
}

ScopedNetns::~ScopedNetns() {
    // A moved-from scope owns nothing; otherwise a failed return would leave this thread
    // in the test namespace, so it is not silently ignored.
    if (original_ && ::setns(original_.get(), CLONE_NEWNET) != 0) std::terminate();
}

}  // namespace natctl::netlink
