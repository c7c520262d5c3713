// natctld's parts that need neither root nor a socket: its settings file, the
// reconciler-backed data plane (against the in-memory kernel fakes) and the filters that
// decide which kernel notifications may concern natctl.
#include <catch2/catch.hpp>

// First, and in its own block: the linux/ headers below otherwise redefine in_addr.
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "controller/compiler/compile.hpp"
#include "controller/daemon/config.hpp"
#include "controller/daemon/data_plane.hpp"
#include "controller/model/validate.hpp"
#include "netlink/kernel_events.hpp"
#include "tests/support/nft_fake.hpp"
#include "tests/support/route_fake.hpp"

using namespace natctl;
using namespace std::chrono_literals;

namespace {

model::Model quickstart() {
    std::ifstream file(std::string(NATCTL_SOURCE_DIR) + "/examples/quickstart.json");
    std::stringstream text;
    text << file.rdbuf();
    auto model = model::load_model(text.str());
    REQUIRE(model.has_value());
    return *model;
}

}  // namespace

TEST_CASE("daemon config: defaults, every setting, and refusals", "[daemon]") {
    auto defaults = daemon::parse_daemon_config("{}");
    REQUIRE(defaults.has_value());
    CHECK(*defaults == daemon::DaemonConfig{});

    auto full = daemon::parse_daemon_config(
        R"({"log_level": "debug", "revisions_kept": 5, "compact_after_records": 10,
            "drift_debounce_ms": 50, "resync_interval_s": 0})");
    REQUIRE(full.has_value());
    CHECK(full->log_level == spdlog::level::debug);
    CHECK(full->revisions_kept == 5);
    CHECK(full->compact_after_records == 10);
    CHECK(full->drift_debounce == 50ms);
    CHECK(full->resync_interval == 0s);

    CHECK(daemon::parse_daemon_config("{").error() == "not valid JSON");
    CHECK(daemon::parse_daemon_config("[]").error() == "expected a JSON object");
    CHECK(daemon::parse_daemon_config(R"({"loglevel": "info"})").error() ==
          "loglevel: unknown setting");
    CHECK(daemon::parse_daemon_config(R"({"log_level": "chatty"})")
              .error()
              .starts_with("log_level: unknown level 'chatty'"));
    CHECK(daemon::parse_daemon_config(R"({"log_level": "off"})")->log_level == spdlog::level::off);
    CHECK(daemon::parse_daemon_config(R"({"revisions_kept": 0})").error() ==
          "revisions_kept: 0 is outside 1-100000");
    CHECK(daemon::parse_daemon_config(R"({"revisions_kept": -3})").error() ==
          "revisions_kept: expected a non-negative integer");
    CHECK(daemon::parse_daemon_config(R"({"drift_debounce_ms": "100"})").error() ==
          "drift_debounce_ms: expected a non-negative integer");
    CHECK(daemon::parse_daemon_config(R"({"drift_debounce_ms": 1000})").error() ==
          "drift_debounce_ms: 1000 is outside 0-900");
    CHECK(daemon::load_daemon_config("").value() == daemon::DaemonConfig{});
    CHECK(daemon::load_daemon_config("/nonexistent/natctld.json").error() ==
          "/nonexistent/natctld.json: cannot read");
}

TEST_CASE("data plane: apply, plan, and drift repairs counted only when something changed",
          "[daemon]") {
    netlink::NftFake nft;
    netlink::RouteFake routes({"veth-vpc", "veth-wan"});
    std::time_t now = 1700000000;  // 2023-11-14T22:13:20Z
    daemon::ReconcilerDataPlane plane(nft, routes, nullptr, {std::nullopt, "flowtable: not probed"},
                                      [&] { return now; });
    const auto model = quickstart();

    auto before = plane.status();
    CHECK(before["reconcile"]["state"] == "failed");  // nothing reconciled yet
    CHECK(before["reconcile"]["last_apply_time"].is_null());
    CHECK(before["kernel_features"]["flowtable"].is_null());
    CHECK(before["kernel_features"]["message"] == "flowtable: not probed");
    CHECK(before["drift_repairs"] == 0);

    auto planned = plane.plan(model);
    REQUIRE(planned.has_value());
    CHECK(planned->changed);
    CHECK(planned->summary["table_created"] == true);
    CHECK(nft.applied_transactions() == 0);  // a plan changes nothing
    CHECK(routes.requests() == 0);

    // The start-up reconcile creates everything, and that is not drift.
    auto started = plane.reconcile(model, daemon::ReconcileCause::Startup);
    REQUIRE(started.has_value());
    CHECK(started->changed);
    CHECK(started->summary["route_operations"].get<std::size_t>() > 0);
    CHECK(plane.drift_repairs() == 0);
    auto status = plane.status();
    CHECK(status["reconcile"]["state"] == "in_sync");
    CHECK(status["reconcile"]["last_apply_time"] == "2023-11-14T22:13:20Z");

    // Our own writes echo back as notifications: the reconcile they cause finds nothing.
    auto echo = plane.reconcile(model, daemon::ReconcileCause::Drift);
    REQUIRE(echo.has_value());
    CHECK_FALSE(echo->changed);
    CHECK(plane.drift_repairs() == 0);

    // Someone deletes one of natctl's routes, then flushes a chain: two repairs.
    const auto desired = compiler::compile(model);
    REQUIRE_FALSE(desired.routes.empty());
    REQUIRE(routes.delete_route(desired.routes.front()).has_value());
    auto repaired = plane.reconcile(model, daemon::ReconcileCause::Drift);
    REQUIRE(repaired.has_value());
    CHECK(repaired->changed);
    CHECK(repaired->summary["route_operations"] == 1);
    CHECK(plane.drift_repairs() == 1);
    CHECK(routes.dump().value().routes.size() == desired.routes.size());
    CHECK_FALSE(plane.plan(model).value().changed);  // nothing left to do

    netlink::NftTransaction flush;
    flush.flush_chain("postrouting");
    REQUIRE(nft.apply(flush).has_value());
    auto resynced = plane.reconcile(model, daemon::ReconcileCause::Resync);
    REQUIRE(resynced.has_value());
    CHECK(resynced->summary["chains_rewritten"] == 1);
    CHECK(plane.drift_repairs() == 2);
    CHECK(plane.status()["drift_repairs"] == 2);

    // A kernel that refuses: reported as failed, with the reason; then back in sync.
    REQUIRE(routes.delete_route(desired.routes.front()).has_value());
    routes.fail_request(0, ENODEV);
    auto refused = plane.reconcile(model, daemon::ReconcileCause::Drift);
    REQUIRE_FALSE(refused.has_value());
    CHECK(plane.drift_repairs() == 2);
    status = plane.status();
    CHECK(status["reconcile"]["state"] == "failed");
    CHECK(status["reconcile"]["last_error"].get<std::string>().starts_with("drift reconcile: "));
    now += 60;
    REQUIRE(plane.reconcile(model, daemon::ReconcileCause::Drift).has_value());
    CHECK(plane.drift_repairs() == 3);
    status = plane.status();
    CHECK(status["reconcile"]["state"] == "in_sync");
    CHECK(status["reconcile"]["last_error"].is_null());
    CHECK(status["reconcile"]["last_apply_time"] == "2023-11-14T22:14:20Z");

    // An API apply of the model already in place changes nothing and is no repair.
    auto same = plane.apply(model);
    REQUIRE(same.has_value());
    CHECK_FALSE(same->changed);
    CHECK(plane.drift_repairs() == 3);
}

namespace {

// One netlink message as the kernel would multicast it, built with libmnl.
class Message {
  public:
    Message(std::uint16_t type, std::size_t header_size) : buffer_(MNL_SOCKET_BUFFER_SIZE) {
        nlh_ = mnl_nlmsg_put_header(buffer_.data());
        nlh_->nlmsg_type = type;
        header_ = mnl_nlmsg_put_extra_header(nlh_, header_size);
    }
    template <class T>
    T& header() {
        return *static_cast<T*>(header_);
    }
    Message& str(std::uint16_t type, const char* value) {
        mnl_attr_put_strz(nlh_, type, value);
        return *this;
    }
    Message& u8(std::uint16_t type, std::uint8_t value) {
        mnl_attr_put_u8(nlh_, type, value);
        return *this;
    }
    const nlmsghdr& get() const { return *nlh_; }

  private:
    std::vector<char> buffer_;
    nlmsghdr* nlh_ = nullptr;
    void* header_ = nullptr;
};

Message nft_message(std::uint8_t msg, std::uint8_t family, const char* table) {
    Message m(static_cast<std::uint16_t>(NFNL_SUBSYS_NFTABLES << 8 | msg), sizeof(nfgenmsg));
    m.header<nfgenmsg>().nfgen_family = family;
    if (table != nullptr) m.str(1, table);
    return m;
}

}  // namespace

TEST_CASE("kernel notifications: only natctl's table and protocol-147 objects count", "[daemon]") {
    using netlink::nft_event_concerns_natctl;
    CHECK(nft_event_concerns_natctl(nft_message(NFT_MSG_DELSETELEM, NFPROTO_IPV4, "natctl").get()));
    CHECK(nft_event_concerns_natctl(nft_message(NFT_MSG_DELTABLE, NFPROTO_IPV4, "natctl").get()));
    CHECK(nft_event_concerns_natctl(nft_message(NFT_MSG_NEWRULE, NFPROTO_IPV4, "natctl").get()));
    CHECK_FALSE(
        nft_event_concerns_natctl(nft_message(NFT_MSG_NEWRULE, NFPROTO_IPV4, "filter").get()));
    CHECK_FALSE(
        nft_event_concerns_natctl(nft_message(NFT_MSG_NEWRULE, NFPROTO_IPV4, "natctl2").get()));
    CHECK_FALSE(
        nft_event_concerns_natctl(nft_message(NFT_MSG_NEWRULE, NFPROTO_INET, "natctl").get()));
    CHECK_FALSE(
        nft_event_concerns_natctl(nft_message(NFT_MSG_NEWGEN, NFPROTO_UNSPEC, nullptr).get()));
    CHECK_FALSE(
        nft_event_concerns_natctl(nft_message(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, nullptr).get()));

    using netlink::route_event_concerns_natctl;
    auto route = [](std::uint16_t type, std::uint8_t family, std::uint8_t protocol) {
        Message m(type, sizeof(rtmsg));
        m.header<rtmsg>().rtm_family = family;
        m.header<rtmsg>().rtm_protocol = protocol;
        return m;
    };
    CHECK(route_event_concerns_natctl(route(RTM_DELROUTE, AF_INET, 147).get()));
    CHECK(route_event_concerns_natctl(route(RTM_NEWROUTE, AF_INET, 147).get()));
    CHECK_FALSE(route_event_concerns_natctl(route(RTM_DELROUTE, AF_INET, RTPROT_BOOT).get()));
    CHECK_FALSE(route_event_concerns_natctl(route(RTM_DELROUTE, AF_INET6, 147).get()));

    Message rule(RTM_DELRULE, sizeof(fib_rule_hdr));
    rule.header<fib_rule_hdr>().family = AF_INET;
    CHECK_FALSE(route_event_concerns_natctl(rule.get()));  // no protocol: an admin's rule
    rule.u8(FRA_PROTOCOL, 147);
    CHECK(route_event_concerns_natctl(rule.get()));
    Message other_rule(RTM_NEWRULE, sizeof(fib_rule_hdr));
    other_rule.u8(FRA_PROTOCOL, RTPROT_STATIC);
    CHECK_FALSE(route_event_concerns_natctl(other_rule.get()));

    Message address(RTM_DELADDR, sizeof(ifaddrmsg));
    address.header<ifaddrmsg>().ifa_family = AF_INET;
    CHECK_FALSE(route_event_concerns_natctl(address.get()));
    address.u8(IFA_PROTO, 147);
    CHECK(route_event_concerns_natctl(address.get()));

    // A truncated message (shorter than its family header) is never read past its end.
    Message truncated(RTM_NEWROUTE, 0);
    CHECK_FALSE(route_event_concerns_natctl(truncated.get()));
}
