// High availability (docs/HA.md): the HA gate in the compiled table and through the data
// plane, natctld's ha settings, conntrackd's statistics and the peer's metrics as read.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "controller/compiler/compile.hpp"
#include "controller/compiler/ha_gate.hpp"
#include "controller/compiler/render.hpp"
#include "controller/daemon/config.hpp"
#include "controller/daemon/data_plane.hpp"
#include "controller/daemon/ha.hpp"
#include "controller/daemon/ha_peer.hpp"
#include "controller/daemon/ha_process.hpp"
#include "controller/model/validate.hpp"
#include "netlink/nft_fake.hpp"
#include "netlink/route_fake.hpp"

using namespace natctl;
using namespace std::chrono_literals;

namespace {

model::Model example(const std::string& name) {
    std::ifstream file(std::string(NATCTL_SOURCE_DIR) + "/examples/" + name);
    std::stringstream text;
    text << file.rdbuf();
    auto model = model::load_model(text.str());
    REQUIRE(model.has_value());
    return *model;
}

bool kernel_holds_new_flows(netlink::NftFake& nft) {
    auto observed = nft.dump();
    REQUIRE(observed.has_value());
    const auto* set = observed->find_set("ha_hold");
    REQUIRE(set != nullptr);
    return !set->set.elements.empty();
}

// conntrackd 1.4.7's `-s`, as it prints it (tabs included).
constexpr const char* kConntrackdStats =
    "cache internal:\n"
    "current active connections:\t           4\n"
    "connections created:\t\t           9\tfailed:\t           0\n"
    "\n"
    "cache external:\n"
    "current active connections:\t         117\n"
    "connections created:\t\t         120\tfailed:\t           0\n"
    "\n"
    "UDP traffic (active device=veth-sync):\n"
    "                 312 Bytes sent                  96 Bytes recv\n"
    "                   3 Error send                   1 Error recv\n"
    "\n"
    "message tracking:\n"
    "                   0 Malformed msgs                   12 Lost msgs\n";

}  // namespace

TEST_CASE("HA gate: compiled open, one element closes it, nft text", "[ha]") {
    auto desired = compiler::compile(example("ha/model.json"));
    CHECK_FALSE(compiler::ha_gate_closed(desired.table));
    const auto& forward = *std::find_if(desired.table.chains.begin(), desired.table.chains.end(),
                                        [](const auto& chain) { return chain.name == "forward"; });
    REQUIRE(forward.rules.size() >= 2);
    // Nothing in natctl's table may accept a connection before the gate; only the fast path
    // for confirmed connections comes first, and a connection the takeover has not
    // committed is never confirmed on this node.
    CHECK(forward.rules[0].text == "ct status confirmed accept");
    CHECK(forward.rules[1].text == "ct state @ha_hold jump ha_hold");

    compiler::close_ha_gate(desired);
    CHECK(compiler::ha_gate_closed(desired.table));
    compiler::close_ha_gate(desired);  // idempotent
    auto text = compiler::render(desired);
    CHECK(text.find("set ha_hold {\n\t\ttype ct_state\n\t\telements = { invalid, new }") !=
          std::string::npos);
    // Replies to a SNAT EIP are delivered to the node itself until their connection is
    // committed: a TCP reset, or a UDP entry that would refuse the commit.
    const auto& input = *std::find_if(desired.table.chains.begin(), desired.table.chains.end(),
                                      [](const auto& chain) { return chain.name == "input"; });
    CHECK(input.rules.front().text == "ip daddr @budget_eips ct state @ha_hold jump ha_hold");
    CHECK(text.find("tcp flags syn / fin,syn,rst,ack return") != std::string::npos);

    auto close = compiler::ha_gate_change(true);
    CHECK(close.set == "ha_hold");
    CHECK(close.removed.empty());
    REQUIRE(close.added.size() == 2);
    CHECK(close.added[0].key == kernel::FieldList{std::uint32_t{1}});  // invalid
    CHECK(close.added[1].key == kernel::FieldList{std::uint32_t{8}});  // new
    auto open = compiler::ha_gate_change(false);
    CHECK(open.added.empty());
    CHECK(open.removed == close.added);
}

TEST_CASE("HA gate through the data plane: one element, kept by later applies", "[ha]") {
    netlink::NftFake nft;
    netlink::RouteFake routes({"veth-in", "veth-out"});
    daemon::ReconcilerDataPlane plane(nft, routes, nullptr, {std::nullopt, "not probed"});
    const auto model = example("ha/model.json");

    // A node restarted as backup holds new connections from its first apply on.
    plane.hold_new_flows_from_start(true);
    REQUIRE(plane.reconcile(model, daemon::ReconcileCause::Startup).has_value());
    CHECK(kernel_holds_new_flows(nft));

    const auto transactions = nft.applied_transactions();
    REQUIRE(plane.hold_new_flows(false, model).has_value());
    CHECK_FALSE(plane.new_flows_held());
    CHECK_FALSE(kernel_holds_new_flows(nft));
    CHECK(nft.applied_transactions() == transactions + 1);    // one element, one transaction
    REQUIRE(plane.hold_new_flows(false, model).has_value());  // no change, no transaction
    CHECK(nft.applied_transactions() == transactions + 1);

    REQUIRE(plane.hold_new_flows(true, model).has_value());
    CHECK(kernel_holds_new_flows(nft));
    // An API write compiles the model anew: the gate stays closed; a resync finds no drift.
    auto changed = model;
    changed.nat_gateways.front().icmp_echo_reply = false;
    REQUIRE(plane.apply(changed).has_value());
    CHECK(kernel_holds_new_flows(nft));
    auto resync = plane.reconcile(changed, daemon::ReconcileCause::Resync);
    REQUIRE(resync.has_value());
    CHECK_FALSE(resync->changed);
    CHECK(plane.drift_repairs() == 0);
}

TEST_CASE("HA settings: a complete block, defaults, and refusals naming the key", "[ha]") {
    auto config = daemon::parse_daemon_config(R"({"ha": {"node": "gw-a", "peer": "gw-b",
        "peer_metrics": "10.255.0.2:9469",
        "conntrackd": {"config": "/etc/conntrackd/conntrackd.conf", "timeout_ms": 5000}}})");
    REQUIRE(config.has_value());
    REQUIRE(config->ha.has_value());
    CHECK(config->ha->node == "gw-a");
    CHECK(config->ha->peer == "gw-b");
    CHECK(config->ha->peer_metrics == "10.255.0.2:9469");
    CHECK(config->ha->conntrackd == "/usr/sbin/conntrackd");
    CHECK(config->ha->conntrackd_config == "/etc/conntrackd/conntrackd.conf");
    CHECK(config->ha->conntrackd_timeout == 5000ms);
    CHECK_FALSE(daemon::parse_daemon_config("{}")->ha.has_value());

    auto error = [](const char* text) { return daemon::parse_daemon_config(text).error(); };
    CHECK(error(R"({"ha": {}})") == "ha: \"node\" is missing");
    CHECK(error(R"({"ha": []})") == "ha: expected an object with \"node\"");
    CHECK(error(R"({"ha": {"node": ""}})") == "ha.node: expected a non-empty string");
    CHECK(error(R"({"ha": {"node": "a", "role": "primary"}})") == "ha.role: unknown setting");
    CHECK(error(R"({"ha": {"node": "a", "conntrackd": {}}})") ==
          "ha.conntrackd: \"config\" is missing");
    CHECK(error(R"({"ha": {"node": "a", "conntrackd": {"config": "c.conf"}}})") ==
          "ha.conntrackd.config: 'c.conf' is relative");
    CHECK(error(R"({"ha": {"node": "a", "conntrackd": {"config": "/c", "timeout_ms": 5}}})") ==
          "ha.conntrackd.timeout_ms: expected 100-600000");
}

TEST_CASE("HA: roles, conntrackd statistics, the peer's metrics, model digests", "[ha]") {
    CHECK(daemon::parse_ha_role("primary") == daemon::HaRole::Primary);
    CHECK(daemon::parse_ha_role("backup") == daemon::HaRole::Backup);
    CHECK(daemon::parse_ha_role("fault") == daemon::HaRole::Fault);
    CHECK_FALSE(daemon::parse_ha_role("master").has_value());
    CHECK_FALSE(daemon::parse_ha_role("unknown").has_value());  // natctld's own, not keepalived's

    auto stats = daemon::parse_conntrackd_stats(kConntrackdStats);
    CHECK(stats.internal_entries == 4u);
    CHECK(stats.external_entries == 117u);
    CHECK(stats.lost_messages == 12u);
    CHECK(stats.malformed_messages == 0u);
    CHECK(stats.send_errors == 3u);
    CHECK(stats.receive_errors == 1u);
    CHECK_FALSE(daemon::parse_conntrackd_stats("").internal_entries.has_value());

    auto peer = daemon::parse_peer_metrics(
        "# HELP natctl_revision Revision of the stored model.\n"
        "natctl_revision 42\n"
        "natctl_ha_role{role=\"backup\"} 0\n"
        "natctl_ha_role{role=\"primary\"} 1\n"
        "natctl_ha_model_info{digest=\"00112233aabbccdd\"} 1\n");
    CHECK(peer.revision == 42u);
    CHECK(peer.role == "primary");
    CHECK(peer.digest == "00112233aabbccdd");

    const auto model = example("ha/model.json");
    auto changed = model;
    changed.nat_gateways.front().icmp_echo_reply = false;
    CHECK(daemon::model_digest(model) == daemon::model_digest(example("ha/model.json")));
    CHECK(daemon::model_digest(model) != daemon::model_digest(changed));
    CHECK(daemon::model_digest(model).size() == 16);
}

TEST_CASE("HA: helper commands run with a deadline and report their exit", "[ha]") {
    auto ok = daemon::run_command({"/bin/sh", "-c", "echo committed; exit 0"}, 5000ms);
    REQUIRE(ok.has_value());
    CHECK(ok->exit_status == 0);
    CHECK(ok->output == "committed\n");
    auto failed = daemon::run_command({"/bin/sh", "-c", "echo no socket >&2; exit 1"}, 5000ms);
    REQUIRE(failed.has_value());
    CHECK(failed->exit_status == 1);
    CHECK(failed->output == "no socket\n");
    auto slow = daemon::run_command({"/bin/sleep", "10"}, 200ms);
    REQUIRE(slow.has_value());
    CHECK(slow->exit_status == -1);
    CHECK(slow->took < 5s);
    CHECK_FALSE(daemon::run_command({"/nonexistent/conntrackd"}, 1000ms).has_value());
}
