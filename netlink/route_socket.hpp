// RouteBackend over a long-lived NETLINK_ROUTE socket (libmnl). Every request asks for an
// ACK and waits for it, so each failure is reported against the object it was about.
// The socket belongs to the network namespace it was opened in (see netns.hpp); interface
// names are resolved over the same socket, so they are looked up in that namespace too.
// Keep one socket for the daemon's lifetime: closing a netlink socket right after
// deletions blocks while the kernel frees the objects.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "netlink/mnl_socket.hpp"
#include "netlink/route_backend.hpp"

struct mnl_socket;
struct nlmsghdr;

namespace natctl::netlink {

class RouteSocket final : public RouteBackend {
  public:
    static std::expected<RouteSocket, std::string> open();

    std::expected<RouteState, RouteError> dump() override;
    RouteResult add_rule(const kernel::PolicyRule& rule) override;
    RouteResult delete_rule(const kernel::PolicyRule& rule) override;
    RouteResult add_route(const kernel::Route& route) override;
    RouteResult replace_route(const kernel::Route& route) override;
    RouteResult delete_route(const kernel::Route& route) override;
    RouteResult add_address(const kernel::Address& address) override;
    RouteResult delete_address(const kernel::Address& address) override;
    // The netlink port id the kernel stamps on notifications of this socket's own changes
    // (nlmsg_pid), so that a listener can tell them from everyone else's.
    std::uint32_t port_id() const { return port_id_; }

    // A kernel answer: errno (0 on success) and the extended ack message, if any; or no
    // answer (kind OutcomeUnknown when the request was a change).
    struct Failure {
        int error_number = 0;
        std::string kernel_message;
        util::ErrorKind kind = util::ErrorKind::KernelRefused;
        std::string text() const;
    };
    using MessageHandler = std::function<void(const nlmsghdr&)>;

  private:
    explicit RouteSocket(MnlSocket socket);

    // Sends the message built in `request` and reads until its ACK (or, for dumps, until
    // NLMSG_DONE), handing each data message to `on_message`.
    std::expected<void, Failure> transact(std::vector<char>& request,
                                          const MessageHandler& on_message = {});
    std::expected<std::map<std::uint32_t, std::string>, Failure> interface_names();
    std::expected<std::uint32_t, RouteError> interface_index(const std::string& name,
                                                             const std::string& owner,
                                                             const std::string& object);
    RouteResult send_route(const kernel::Route& route, std::uint16_t type, std::uint16_t flags);
    RouteResult send_rule(const kernel::PolicyRule& rule, std::uint16_t type, std::uint16_t flags);
    RouteResult send_address(const kernel::Address& address, std::uint16_t type,
                             std::uint16_t flags);

    MnlSocket socket_;
    std::uint32_t port_id_ = 0;
    std::uint32_t next_sequence_ = 1;
    std::vector<char> receive_buffer_;
};

}  // namespace natctl::netlink
