// A dotted quad as the host-order number the kernel state, conntrack entries and the
// translation index carry; for tests, whose addresses are always valid.
#pragma once

#include <cstdint>
#include <string_view>

#include "controller/model/addr.hpp"

namespace natctl::testing {

inline std::uint32_t addr(std::string_view text) {
    return model::parse_ipv4(text).value().value;
}

}  // namespace natctl::testing
