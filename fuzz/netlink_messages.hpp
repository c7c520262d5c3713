// Walking a fuzz input as a netlink datagram, the way libmnl's receive loop does
// (mnl_nlmsg_ok / mnl_nlmsg_next over a received buffer), so that a parser sees only
// messages whose length fits in the datagram — what the kernel's socket guarantees.
#pragma once

#include <libmnl/libmnl.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "netlink/nlmsg_fits.hpp"

namespace natctl::fuzz {

// The input copied into 4-byte aligned storage (a received buffer is aligned).
class Datagram {
  public:
    Datagram(const std::uint8_t* data, std::size_t size) : words_((size + 3) / 4), size_(size) {
        if (size > 0) std::memcpy(words_.data(), data, size);
    }

    template <typename Visit>
    void for_each_message(Visit&& visit) const {
        const auto* header = reinterpret_cast<const nlmsghdr*>(words_.data());
        int remaining = static_cast<int>(size_);
        while (netlink::message_fits(header, remaining)) {
            visit(header);
            header = mnl_nlmsg_next(header, &remaining);
        }
    }

  private:
    std::vector<std::uint32_t> words_;
    std::size_t size_;
};

}  // namespace natctl::fuzz
