// Entering a named network namespace for the calling thread only. Netlink sockets belong
// to the namespace they were opened in, so a socket opened inside a ScopedNetns keeps
// talking to that namespace after the scope ends; this is how tests and benchmarks point
// natctl at a throwaway namespace without touching the host's own network.
#pragma once

#include <expected>
#include <string>

namespace natctl::netlink {

class FileDescriptor {
  public:
    FileDescriptor() = default;
    explicit FileDescriptor(int fd) : fd_(fd) {}
    FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
    FileDescriptor& operator=(FileDescriptor&& other) noexcept;
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor();

    int get() const { return fd_; }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    explicit operator bool() const { return fd_ >= 0; }

  private:
    int fd_ = -1;
};

class ScopedNetns {
  public:
    // name: a namespace under /run/netns (as `ip netns add` creates them).
    static std::expected<ScopedNetns, std::string> enter(const std::string& name);

    ScopedNetns(ScopedNetns&&) noexcept = default;
    ScopedNetns& operator=(ScopedNetns&&) = delete;
    ScopedNetns(const ScopedNetns&) = delete;
    ScopedNetns& operator=(const ScopedNetns&) = delete;
    ~ScopedNetns();  // returns the thread to the namespace it was in

  private:
    explicit ScopedNetns(FileDescriptor original) : original_(std::move(original)) {}
    FileDescriptor original_;
};

}  // namespace natctl::netlink
