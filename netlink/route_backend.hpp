// The narrow rtnetlink interface natctl programs policy rules, routes and addresses
// through: a dump of natctl's own objects and one call per add / replace / delete. The
// real implementation is RouteSocket (route_socket.hpp); RouteFake
// (tests/support/route_fake.hpp) keeps the same contract in memory so that planning and
// rollback are testable without root.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "kernelstate/kernel_state.hpp"
#include "util/error.hpp"

namespace natctl::netlink {

// natctl's routing objects as they are (dump) or should be (desired). Objects read back
// from the kernel carry no owner: the kernel does not store it.
struct RouteState {
    std::vector<kernel::PolicyRule> rules;
    std::vector<kernel::Route> routes;
    std::vector<kernel::Address> addresses;
    bool operator==(const RouteState&) const = default;
};

// A failed rtnetlink request, tied to the object it was about.
struct RouteError {
    std::string owner;     // model path of the object; empty for objects read from the kernel
    std::string object;    // e.g. "route 0.0.0.0/0 via 198.51.100.1 dev veth-wan table 20417"
    std::string reason;    // errno name and text, and the kernel's extended ack message, if any
    int error_number = 0;  // errno; 0 when the failure did not come from the kernel
    // KernelRefused: the kernel answered an error, or never got the request, or it was a
    // read; OutcomeUnknown: a change was sent and its answer never came (or a rollback
    // failed), so the kernel must be read again; Invalid: the desired objects contradict
    // each other (two routes with one kernel identity).
    util::ErrorKind kind = util::ErrorKind::KernelRefused;

    std::string message() const;
    // {kind, owner, "object: reason"}.
    util::Error to_error() const;
    bool operator==(const RouteError&) const = default;
};

using RouteResult = std::expected<void, RouteError>;

class RouteBackend {
  public:
    virtual ~RouteBackend() = default;

    // natctl's objects only: rules with protocol 147 and a priority in 10000-10999, routes
    // with protocol 147 in tables 20000-29999, addresses with IFA_PROTO 147.
    virtual std::expected<RouteState, RouteError> dump() = 0;

    virtual RouteResult add_rule(const kernel::PolicyRule& rule) = 0;
    virtual RouteResult delete_rule(const kernel::PolicyRule& rule) = 0;
    virtual RouteResult add_route(const kernel::Route& route) = 0;
    // Swaps the route with the same table, destination and metric in place (NLM_F_REPLACE),
    // so that traffic never sees a gap between the old and the new next hop.
    virtual RouteResult replace_route(const kernel::Route& route) = 0;
    virtual RouteResult delete_route(const kernel::Route& route) = 0;
    virtual RouteResult add_address(const kernel::Address& address) = 0;
    virtual RouteResult delete_address(const kernel::Address& address) = 0;
};

// ip(8)-like one-line descriptions, used in error messages and logs.
std::string format_ipv4(std::uint32_t host_order_address);
std::string describe(const kernel::Prefix& prefix);
std::string describe(const kernel::PolicyRule& rule);
std::string describe(const kernel::Route& route);
std::string describe(const kernel::Address& address);

}  // namespace natctl::netlink
