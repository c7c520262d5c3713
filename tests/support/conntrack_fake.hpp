// An in-memory ConntrackBackend: a table of entries that tests fill by hand. remove() finds
// an entry as the kernel does (protocol, original tuple, ICMP fields, zone; the id when
// given). It can be told to fail the dump or one chosen deletion, to test error paths.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "netlink/conntrack_backend.hpp"

namespace natctl::netlink {

class ConntrackFake final : public ConntrackBackend {
  public:
    std::expected<std::vector<ConntrackEntry>, ConntrackError> dump_nat() override;
    std::expected<bool, ConntrackError> remove(const ConntrackEntry& entry) override;

    void insert(ConntrackEntry entry) { entries_.push_back(std::move(entry)); }
    // Every entry, NAT'd or not.
    const std::vector<ConntrackEntry>& entries() const { return entries_; }

    void fail_dump(int error_number) { failing_dump_errno_ = error_number; }
    // The removal with this 0-based index (counting from now on) fails with `error_number`.
    void fail_remove(std::size_t index, int error_number) {
        failing_remove_ = removals_ + index;
        failing_remove_errno_ = error_number;
    }
    std::size_t dumps() const { return dumps_; }
    std::size_t removals() const { return removals_; }  // remove() calls so far

  private:
    std::vector<ConntrackEntry> entries_;
    std::size_t dumps_ = 0;
    std::size_t removals_ = 0;
    std::optional<int> failing_dump_errno_;
    std::optional<std::size_t> failing_remove_;
    int failing_remove_errno_ = 0;
};

}  // namespace natctl::netlink
