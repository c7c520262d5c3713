// An in-memory RouteBackend with the kernel's answers: EEXIST for an object already there,
// ESRCH / EADDRNOTAVAIL for deleting a missing one, ENODEV for an unknown interface. It can
// be told to fail one chosen request, to test rollback.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "netlink/route_backend.hpp"

namespace natctl::netlink {

class RouteFake final : public RouteBackend {
  public:
    // Interfaces that exist; routes and addresses naming any other device fail with ENODEV.
    explicit RouteFake(std::set<std::string> interfaces) : interfaces_(std::move(interfaces)) {}

    std::expected<RouteState, RouteError> dump() override;
    RouteResult add_rule(const kernel::PolicyRule& rule) override;
    RouteResult delete_rule(const kernel::PolicyRule& rule) override;
    RouteResult add_route(const kernel::Route& route) override;
    RouteResult replace_route(const kernel::Route& route) override;
    RouteResult delete_route(const kernel::Route& route) override;
    RouteResult add_address(const kernel::Address& address) override;
    RouteResult delete_address(const kernel::Address& address) override;

    // The request with this 0-based index (counting every add / replace / delete from now
    // on) fails with `error_number` and changes nothing. Calls add up: several requests can
    // be told to fail (an apply and then its rollback).
    void fail_request(std::size_t index, int error_number) {
        failing_requests_[requests_ + index] = error_number;
    }
    std::size_t requests() const { return requests_; }  // mutating requests so far

    // What the fake holds, owners included (dump() strips them, like the kernel).
    const RouteState& state() const { return state_; }

  private:
    std::optional<RouteError> injected_failure(const std::string& owner, std::string object);

    std::set<std::string> interfaces_;
    RouteState state_;
    std::size_t requests_ = 0;
    std::map<std::size_t, int> failing_requests_;  // request index -> errno
};

}  // namespace natctl::netlink
