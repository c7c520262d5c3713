// High availability (docs/HA.md): the HA gate in the compiled table and through the data
// plane, natctld's ha settings, conntrackd's statistics and the peer's metrics as read.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "controller/compiler/compile.hpp"
#include "controller/compiler/ha_gate.hpp"
#include "controller/compiler/render.hpp"
#include "controller/daemon/config.hpp"
#include "controller/daemon/conntrackd_client.hpp"
#include "controller/daemon/data_plane.hpp"
#include "controller/daemon/ha.hpp"
#include "controller/daemon/ha_peer.hpp"
#include "controller/daemon/keepalived_fifo.hpp"
#include "controller/model/validate.hpp"
#include "tests/support/nft_fake.hpp"
#include "tests/support/route_fake.hpp"

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
    CHECK(config->ha->conntrackd_config == "/etc/conntrackd/conntrackd.conf");
    CHECK(config->ha->conntrackd_socket.empty());  // read from the config when loaded
    CHECK(config->ha->conntrackd_timeout == 5000ms);
    CHECK(config->ha->keepalived_fifo.empty());
    CHECK_FALSE(daemon::parse_daemon_config("{}")->ha.has_value());

    auto direct = daemon::parse_daemon_config(R"({"ha": {"node": "gw-a",
        "conntrackd": {"socket": "/run/conntrackd.ctl"},
        "keepalived": {"notify_fifo": "/run/natctl/keepalived.fifo", "instance": "natctl"}}})");
    REQUIRE(direct.has_value());
    CHECK(direct->ha->conntrackd_socket == "/run/conntrackd.ctl");
    CHECK(direct->ha->syncs_connections());
    CHECK(direct->ha->keepalived_fifo == "/run/natctl/keepalived.fifo");
    CHECK(direct->ha->keepalived_instance == "natctl");

    auto error = [](const char* text) { return daemon::parse_daemon_config(text).error(); };
    CHECK(error(R"({"ha": {}})") == "ha: \"node\" is missing");
    CHECK(error(R"({"ha": []})") == "ha: expected an object with \"node\"");
    CHECK(error(R"({"ha": {"node": ""}})") == "ha.node: expected a non-empty string");
    CHECK(error(R"({"ha": {"node": "a", "role": "primary"}})") == "ha.role: unknown setting");
    CHECK(error(R"({"ha": {"node": "a", "conntrackd": {}}})") ==
          "ha.conntrackd: \"config\" or \"socket\" is missing");
    CHECK(error(R"({"ha": {"node": "a", "conntrackd": {"command": "/usr/sbin/conntrackd"}}})") ==
          "ha.conntrackd.command: unknown setting");
    CHECK(error(R"({"ha": {"node": "a", "conntrackd": {"socket": "ctl"}}})") ==
          "ha.conntrackd.socket: 'ctl' is relative");
    CHECK(error(R"({"ha": {"node": "a", "keepalived": {}}})") ==
          "ha.keepalived: \"notify_fifo\" is missing");
    CHECK(error(R"({"ha": {"node": "a", "keepalived": {"notify_fifo": "k.fifo"}}})") ==
          "ha.keepalived.notify_fifo: 'k.fifo' is relative");
    CHECK(error(R"({"ha": {"node": "a", "keepalived": {"notify_fifo": "/k", "instance": ""}}})") ==
          "ha.keepalived.instance: expected a non-empty string");
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

namespace {

// A temporary directory, removed with everything in it.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "natctl-ha-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// conntrackd's side of its control socket: takes one connection, reads the request's int,
// waits `delay`, writes `answer` and closes, as conntrackd does.
class FakeConntrackd {
  public:
    FakeConntrackd(const std::filesystem::path& path, std::string answer,
                   std::chrono::milliseconds delay = 0ms) {
        listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(listener_ >= 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
        REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(listener_, 4) == 0);
        thread_ = std::thread([this, answer = std::move(answer), delay] {
            int client = ::accept(listener_, nullptr, nullptr);
            if (client < 0) return;
            int code = -1;
            if (::recv(client, &code, sizeof code, MSG_WAITALL) == sizeof code) request_ = code;
            std::this_thread::sleep_for(delay);
            (void)::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
            ::close(client);
        });
    }
    ~FakeConntrackd() {
        ::shutdown(listener_, SHUT_RDWR);  // wakes accept() when no request came
        if (thread_.joinable()) thread_.join();
        ::close(listener_);
    }
    int request() {
        if (thread_.joinable()) thread_.join();
        return request_;
    }

  private:
    int listener_ = -1;
    int request_ = -1;
    std::thread thread_;
};

}  // namespace

TEST_CASE("HA: conntrackd's control socket: the request code, the answer, deadlines", "[ha]") {
    TempDir dir;
    const auto socket = dir.path / "conntrackd.ctl";
    {
        FakeConntrackd conntrackd(socket, "Committed 4 new entries\n");
        auto answer =
            daemon::conntrackd_request(socket, daemon::ConntrackdRequest::CommitExternalCache, 5s);
        REQUIRE(answer.has_value());
        CHECK(answer->text == "Committed 4 new entries\n");
        CHECK(conntrackd.request() == 46);  // what `conntrackd -c` sends
    }
    std::filesystem::remove(socket);
    {
        // a commit answers once it is done: the deadline is the only limit
        FakeConntrackd conntrackd(socket, "", 3s);
        auto late = daemon::conntrackd_request(socket, daemon::ConntrackdRequest::SendBulk, 200ms);
        REQUIRE_FALSE(late.has_value());
        CHECK(late.error() == "conntrackd -B gave no answer within 200 ms");
    }
    std::filesystem::remove(socket);
    auto absent = daemon::conntrackd_request(socket, daemon::ConntrackdRequest::Statistics, 1s);
    REQUIRE_FALSE(absent.has_value());
    CHECK(absent.error().find("is conntrackd running?") != std::string::npos);

    CHECK(daemon::client_option(daemon::ConntrackdRequest::FlushInternalCache) ==
          std::string("-f internal"));
    CHECK(static_cast<int>(daemon::ConntrackdRequest::ShortenKernelTimers) == 26);
    CHECK(static_cast<int>(daemon::ConntrackdRequest::RequestPeerResync) == 23);
}

TEST_CASE("HA: the control socket named in conntrackd.conf", "[ha]") {
    CHECK(daemon::conntrackd_socket_path(R"(Sync {
    Mode FTFW { DisableExternalCache Off }
}
General {
    # UNIX { Path /commented/out }
    LockFile /var/lock/conntrackd.lock
    UNIX {
        Path /run/conntrackd.ctl
        Backlog 20
    }
})") == std::filesystem::path("/run/conntrackd.ctl"));
    CHECK(daemon::conntrackd_socket_path("General{UNIX{Path /a.ctl}}") ==
          std::filesystem::path("/a.ctl"));
    // a Path outside the UNIX block is some other setting's
    CHECK_FALSE(daemon::conntrackd_socket_path("General { Path /x UNIX { Backlog 2 } }"));
    CHECK_FALSE(daemon::conntrackd_socket_path(""));

    TempDir dir;
    std::ofstream(dir.path / "conntrackd.conf") << "General {\n UNIX {\n  Path /run/c.ctl\n }\n}\n";
    std::ofstream(dir.path / "none.conf") << "General {\n}\n";
    daemon::HaSettings settings;
    settings.conntrackd_config = dir.path / "conntrackd.conf";
    REQUIRE(daemon::resolve_conntrackd_socket(settings).has_value());
    CHECK(settings.conntrackd_socket == "/run/c.ctl");
    settings = {};
    settings.conntrackd_config = dir.path / "none.conf";
    auto refused = daemon::resolve_conntrackd_socket(settings);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().starts_with("ha.conntrackd.config: "));
    CHECK(refused.error().find("names no control socket") != std::string::npos);
}

TEST_CASE("HA: keepalived's notify FIFO lines and roles", "[ha]") {
    using daemon::KeepalivedNotice;
    CHECK(daemon::parse_keepalived_notice("INSTANCE \"natctl\" MASTER 150\n") ==
          KeepalivedNotice{"INSTANCE", "natctl", "MASTER", 150});
    CHECK(daemon::parse_keepalived_notice("GROUP \"pair one\" BACKUP 0") ==
          KeepalivedNotice{"GROUP", "pair one", "BACKUP", 0});
    CHECK_FALSE(daemon::parse_keepalived_notice("VS [10.0.0.1]:tcp:80 UP"));
    CHECK_FALSE(daemon::parse_keepalived_notice("INSTANCE natctl MASTER 150"));
    CHECK_FALSE(daemon::parse_keepalived_notice("INSTANCE \"natctl\" MASTER"));
    CHECK_FALSE(daemon::parse_keepalived_notice("INSTANCE \"natctl\" MASTER high"));
    CHECK_FALSE(daemon::parse_keepalived_notice("INSTANCE \"\" MASTER 1"));
    CHECK_FALSE(daemon::parse_keepalived_notice(""));

    CHECK(daemon::role_of_keepalived_state("MASTER") == daemon::HaRole::Primary);
    CHECK(daemon::role_of_keepalived_state("BACKUP") == daemon::HaRole::Backup);
    CHECK(daemon::role_of_keepalived_state("FAULT") == daemon::HaRole::Fault);
    CHECK(daemon::role_of_keepalived_state("STOP") == daemon::HaRole::Fault);
    CHECK_FALSE(daemon::role_of_keepalived_state("MASTER_RX_LOWER_PRI"));

    TempDir dir;
    boost::asio::io_context io;
    std::vector<KeepalivedNotice> seen;
    daemon::KeepalivedFifo fifo(io, dir.path / "keepalived.fifo",
                                [&](const KeepalivedNotice& notice) { seen.push_back(notice); });
    REQUIRE_FALSE(fifo.open().has_value());
    REQUIRE(std::filesystem::is_fifo(dir.path / "keepalived.fifo"));
    {
        // keepalived writes whole lines; a second writer after the first closed must not
        // end the reading (natctld holds the FIFO open for writing too)
        std::ofstream(dir.path / "keepalived.fifo") << "INSTANCE \"natctl\" BACKUP 100\n";
        std::ofstream(dir.path / "keepalived.fifo") << "garbage\nINSTANCE \"natctl\" MASTER 100\n";
    }
    for (int i = 0; i < 100 && seen.size() < 2; ++i)
        io.run_for(20ms);
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].state == "BACKUP");
    CHECK(seen[1].state == "MASTER");

    // replaced behind natctld's back: read again from the new FIFO
    std::filesystem::remove(dir.path / "keepalived.fifo");
    fifo.reopen_if_replaced();
    REQUIRE(std::filesystem::is_fifo(dir.path / "keepalived.fifo"));
    std::ofstream(dir.path / "keepalived.fifo") << "INSTANCE \"natctl\" FAULT 100\n";
    for (int i = 0; i < 100 && seen.size() < 3; ++i)
        io.run_for(20ms);
    REQUIRE(seen.size() == 3);
    CHECK(seen[2].state == "FAULT");

    std::ofstream(dir.path / "not-a-fifo") << "x";
    daemon::KeepalivedFifo wrong(io, dir.path / "not-a-fifo", [](const KeepalivedNotice&) {});
    auto refused = wrong.open();
    REQUIRE(refused.has_value());
    CHECK(refused->find("is not a FIFO") != std::string::npos);
}
