#include "tests/support/conntrack_fake.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace natctl::netlink {

std::expected<std::vector<ConntrackEntry>, ConntrackError> ConntrackFake::dump_nat() {
    ++dumps_;
    if (failing_dump_errno_) {
        const int error_number = *failing_dump_errno_;
        failing_dump_errno_.reset();
        return std::unexpected(ConntrackError{
            fmt::format("dumping conntrack: {}", std::strerror(error_number)), error_number});
    }
    std::vector<ConntrackEntry> out;
    for (const auto& entry : entries_)
        if (entry.src_nat() || entry.dst_nat()) out.push_back(entry);
    return out;
}

std::expected<bool, ConntrackError> ConntrackFake::remove(const ConntrackEntry& entry) {
    const std::size_t index = removals_++;
    if (failing_remove_ && *failing_remove_ == index)
        return std::unexpected(
            ConntrackError{fmt::format("deleting conntrack entry {}: {}", describe(entry),
                                       std::strerror(failing_remove_errno_)),
                           failing_remove_errno_});
    auto found = std::find_if(entries_.begin(), entries_.end(), [&](const ConntrackEntry& have) {
        return have.protocol == entry.protocol && have.original == entry.original &&
               have.icmp == entry.icmp && have.zone == entry.zone &&
               (!entry.id || have.id == entry.id);
    });
    if (found == entries_.end()) return false;
    entries_.erase(found);
    return true;
}

}  // namespace natctl::netlink
