// The session log without a kernel: refusal prefixes, the realm of a gateway as the
// compiler assigns it, the lines of starts, ends and refusals per gateway mode, the file
// sink's rotation, NFLOG message decoding and the daemon's session_log setting.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "controller/compiler/compile.hpp"
#include "controller/conntrack/naming.hpp"
#include "controller/conntrack/session_log.hpp"
#include "controller/daemon/config.hpp"
#include "controller/model/addr.hpp"
#include "controller/model/validate.hpp"
#include "netlink/nflog_socket.hpp"
#include "tests/unit/ipv4.hpp"
#include "tests/unit/temp_dir.hpp"

using namespace natctl;
using nlohmann::json;

using natctl::testing::addr;

namespace {

constexpr const char* kModel = R"({
  "version": 1,
  "vpcs": [{
    "name": "vpc-a", "cidr": "10.0.0.0/16", "interfaces": ["veth-vpc"],
    "vswitches": [{"name": "vsw-a", "cidr": "10.0.1.0/24"}],
    "instances": [{"name": "web-1", "vswitch": "vsw-a", "private_ips": ["10.0.1.10"]}]
  }],
  "eips": [{"name": "eip-1", "address": "203.0.113.10"}, {"name": "eip-2", "address": "203.0.113.11"}],
  "nat_gateways": [{
    "name": "ngw-1", "vpc": "vpc-a", "outside_interface": "veth-wan",
    "upstream": "198.51.100.1", "eips": ["eip-1", "eip-2"], "session_log": "all",
    "snat_entries": [{"name": "snat-vsw", "source": {"vswitch": "vsw-a"}, "eips": ["eip-1"]}],
    "dnat_entries": [{"name": "web", "eip": "eip-2", "protocol": "tcp", "public_port": "80",
                      "private_ip": "10.0.1.10", "private_port": "8080"}]
  }]
})";

model::Model test_model(const char* mode = "all") {
    auto document = json::parse(kModel);
    document["nat_gateways"][0]["session_log"] = mode;
    auto loaded = model::load_model(document.dump());
    if (!loaded) FAIL("test model does not load");
    return *loaded;
}

class MemorySink final : public conntrack::SessionSink {
  public:
    explicit MemorySink(std::vector<std::string>& lines) : lines_(lines) {}
    bool write(std::string_view line) override {
        lines_.emplace_back(line);
        return true;
    }

  private:
    std::vector<std::string>& lines_;
};

netlink::ConntrackEntry snat_entry() {
    netlink::ConntrackEntry e;
    e.protocol = 17;
    e.original = {addr("10.0.1.10"), addr("192.0.2.1"), 5000, 53};
    e.reply = {addr("192.0.2.1"), addr("203.0.113.10"), 53, 61000};
    e.status = netlink::kCtStatusSrcNat;
    return e;
}

std::chrono::system_clock::time_point fixed_time() {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(1714564800123));
}

}  // namespace

TEST_CASE("refusal prefixes", "[session_log]") {
    using conntrack::parse_refusal_prefix;
    CHECK(parse_refusal_prefix("natctl budget 20048 snat-vsw") ==
          conntrack::RefusalPrefix{"budget", 20048, "snat-vsw"});
    CHECK(parse_refusal_prefix("natctl instance_limit 7 app ") ==
          conntrack::RefusalPrefix{"instance_limit", 7, "app"});
    CHECK(parse_refusal_prefix("natctl budget 12")->entry.empty());
    CHECK(parse_refusal_prefix("natctl budget 12 -")->entry.empty());
    CHECK_FALSE(parse_refusal_prefix("natctl other 12 x"));
    CHECK_FALSE(parse_refusal_prefix("natctl budget x12 x"));
    CHECK_FALSE(parse_refusal_prefix("someone budget 12 x"));
    CHECK_FALSE(parse_refusal_prefix(""));
}

TEST_CASE("a gateway's realm is the one the compiler routes it with", "[session_log]") {
    auto model = test_model();
    const auto realms = conntrack::nat_gateway_realms(model);
    REQUIRE(realms.size() == 1);
    const auto state = compiler::compile(model);
    bool routed = false;
    for (const auto& route : state.routes)
        if (route.dev == "veth-wan" && route.realm != 0) {
            CHECK(realms.at(route.realm) == "ngw-1");
            routed = true;
        }
    CHECK(routed);
}

TEST_CASE("session lines per gateway mode", "[session_log]") {
    std::vector<std::string> lines;
    conntrack::SessionRecorder recorder(std::make_unique<MemorySink>(lines), fixed_time);
    recorder.set_names(std::make_shared<const conntrack::SessionNames>(test_model("all")));

    auto entry = snat_entry();
    recorder.on_events({{netlink::ConntrackEventType::New, entry, std::nullopt},
                        {netlink::ConntrackEventType::Destroy, entry,
                         netlink::ConntrackCounters{3, 300, 2, 200}}});
    REQUIRE(lines.size() == 2);
    auto start = json::parse(lines[0]);
    CHECK(start["event"] == "start");
    CHECK(start["time"] == "2024-05-01T12:00:00.123Z");
    CHECK(start["gateway"] == "ngw-1");
    CHECK(start["entry"] == "snat-vsw");
    CHECK(start["eip"] == "eip-1");
    CHECK(start["type"] == "snat");
    CHECK(start["protocol"] == "udp");
    CHECK(start["original"] ==
          json{{"src", "10.0.1.10"}, {"sport", 5000}, {"dst", "192.0.2.1"}, {"dport", 53}});
    CHECK(start["translated"] ==
          json{{"src", "203.0.113.10"}, {"sport", 61000}, {"dst", "192.0.2.1"}, {"dport", 53}});
    CHECK_FALSE(start.contains("packets"));
    auto end = json::parse(lines[1]);
    CHECK(end["event"] == "end");
    CHECK(end["packets"] == json{{"original", 3}, {"reply", 2}});
    CHECK(end["bytes"] == json{{"original", 300}, {"reply", 200}});

    // DNAT: remote -> eip-2:80 arriving at web-1:8080
    netlink::ConntrackEntry dnat;
    dnat.protocol = 6;
    dnat.original = {addr("198.51.100.7"), addr("203.0.113.11"), 40000, 80};
    dnat.reply = {addr("10.0.1.10"), addr("198.51.100.7"), 8080, 40000};
    dnat.status = netlink::kCtStatusDstNat;
    recorder.on_events({{netlink::ConntrackEventType::New, dnat, std::nullopt}});
    REQUIRE(lines.size() == 3);
    auto d = json::parse(lines[2]);
    CHECK(d["entry"] == "web");
    CHECK(d["type"] == "dnat");
    CHECK(d["translated"]["dst"] == "10.0.1.10");

    auto figures = recorder.figures();
    CHECK(figures.new_by_eip.at("eip-1") == 1);
    CHECK(figures.new_by_eip.at("eip-2") == 1);
    CHECK(figures.new_by_entry.at({"ngw-1", "snat", "snat-vsw"}) == 1);
    CHECK(figures.new_by_entry.at({"ngw-1", "dnat", "web"}) == 1);
    CHECK(figures.lines_written == 3);

    SECTION("errors: no starts or ends, refusals yes; off: nothing") {
        lines.clear();
        recorder.set_names(std::make_shared<const conntrack::SessionNames>(test_model("errors")));
        recorder.on_events({{netlink::ConntrackEventType::New, entry, std::nullopt}});
        CHECK(lines.empty());
        const auto realm = conntrack::nat_gateway_realms(test_model()).begin()->first;
        netlink::NflogBatch batch;
        netlink::NflogPacket packet;
        packet.prefix = fmt::format("natctl budget {} snat-vsw", realm);
        packet.protocol = 17;
        packet.tuple = {addr("10.0.1.10"), addr("192.0.2.1"), 5001, 53};
        batch.packets.push_back(packet);
        packet.prefix = "natctl budget 1 unknown-realm";
        batch.packets.push_back(packet);
        recorder.on_refused(batch);
        REQUIRE(lines.size() == 1);
        auto refused = json::parse(lines[0]);
        CHECK(refused["event"] == "refused");
        CHECK(refused["gateway"] == "ngw-1");
        CHECK(refused["entry"] == "snat-vsw");
        CHECK(refused["reason"] == "budget");
        CHECK(refused["original"]["sport"] == 5001);
        CHECK(recorder.figures().refused.at({"ngw-1", "budget"}) == 1);
        CHECK(recorder.figures().refusals_unattributed == 1);

        recorder.set_names(std::make_shared<const conntrack::SessionNames>(test_model("off")));
        batch.packets.resize(1);
        recorder.on_refused(batch);
        CHECK(lines.size() == 1);
        CHECK(recorder.figures().refused.at({"ngw-1", "budget"}) == 2);
    }
}

TEST_CASE("the file sink rotates whole lines and keeps K files", "[session_log]") {
    const natctl::testing::TempDir dir{"slog"};
    const auto path = dir.path() / "sessions.jsonl";
    {
        auto sink = conntrack::RotatingFileSink::open(path, 1000, 2);
        REQUIRE(sink);
        const std::string line(99, 'x');  // 100 bytes with the newline
        for (int i = 0; i < 35; ++i)
            REQUIRE((*sink)->write(line));
    }
    // 35 lines of 100 bytes, 10 per file: path holds 5, path.1 and path.2 10 each, the
    // oldest 10 were dropped
    CHECK(std::filesystem::file_size(path) == 500);
    CHECK(std::filesystem::file_size(path.string() + ".1") == 1000);
    CHECK(std::filesystem::file_size(path.string() + ".2") == 1000);
    CHECK_FALSE(std::filesystem::exists(path.string() + ".3"));
}

TEST_CASE("NFLOG packet messages decode to prefix and tuple", "[session_log][nflog]") {
    std::vector<char> buffer(4096, 0);
    auto* header = mnl_nlmsg_put_header(buffer.data());
    header->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
    auto* generic = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(nfgenmsg)));
    generic->nfgen_family = AF_INET;
    mnl_attr_put_strz(header, NFULA_PREFIX, "natctl budget 9 snat-vsw");
    // IPv4 (no options) + UDP 10.0.1.10:5000 -> 192.0.2.1:53
    unsigned char packet[28] = {0x45, 0,  0,   28, 0, 0, 0x40, 0,    64, 17, 0, 0, 10, 0,
                                1,    10, 192, 0,  2, 1, 0x13, 0x88, 0,  53, 0, 8, 0,  0};
    mnl_attr_put(header, NFULA_PAYLOAD, sizeof(packet), packet);
    nfulnl_msg_packet_timestamp stamp{htobe64(1714564800), htobe64(123000)};
    mnl_attr_put(header, NFULA_TIMESTAMP, sizeof(stamp), &stamp);
    auto decoded = netlink::decode_nflog_message(header);
    REQUIRE(decoded);
    CHECK(decoded->prefix == "natctl budget 9 snat-vsw");
    CHECK(decoded->protocol == 17);
    CHECK(decoded->tuple ==
          netlink::ConntrackTuple{addr("10.0.1.10"), addr("192.0.2.1"), 5000, 53});
    REQUIRE(decoded->timestamp);
    CHECK(conntrack::utc_timestamp(*decoded->timestamp) == "2024-05-01T12:00:00.123Z");

    packet[0] = 0x65;  // not IPv4
    auto* second = mnl_nlmsg_put_header(buffer.data());
    second->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
    mnl_nlmsg_put_extra_header(second, sizeof(nfgenmsg));
    mnl_attr_put(second, NFULA_PAYLOAD, sizeof(packet), packet);
    CHECK_FALSE(netlink::decode_nflog_message(second));
}

TEST_CASE("daemon setting session_log", "[session_log][daemon]") {
    using daemon::parse_daemon_config;
    CHECK_FALSE(parse_daemon_config("{}")->session_log_file);
    CHECK_FALSE(parse_daemon_config(R"({"session_log": "journal"})")->session_log_file);
    auto file = parse_daemon_config(
        R"({"session_log": {"path": "/var/log/natctl/s.jsonl", "max_bytes": 1048576, "keep": 3}})");
    REQUIRE(file);
    REQUIRE(file->session_log_file);
    CHECK(file->session_log_file->path == "/var/log/natctl/s.jsonl");
    CHECK(file->session_log_file->max_bytes == 1048576);
    CHECK(file->session_log_file->keep == 3);
    CHECK(parse_daemon_config(R"({"session_log": "syslog"})").error().starts_with("session_log:"));
    CHECK(parse_daemon_config(R"({"session_log": {"path": "rel.jsonl"}})")
              .error()
              .starts_with("session_log.path:"));
    CHECK(parse_daemon_config(R"({"session_log": {"keep": 3}})").error() ==
          "session_log: \"path\" is missing");
    CHECK(parse_daemon_config(R"({"session_log": {"path": "/x", "max_bytes": 10}})")
              .error()
              .starts_with("session_log.max_bytes:"));
    CHECK(parse_daemon_config(R"({"session_log": {"path": "/x", "color": 1}})").error() ==
          "session_log.color: unknown setting");
}

TEST_CASE("session names: DNAT entries by public port, IP mapping last, no entry copied",
          "[session_log]") {
    auto document = json::parse(kModel);
    auto& dnat = document["nat_gateways"][0]["dnat_entries"];
    dnat.push_back({{"name", "range"},
                    {"eip", "eip-2"},
                    {"protocol", "udp"},
                    {"public_port", "1000/1009"},
                    {"private_ip", "10.0.1.10"},
                    {"private_port", "2000/2009"}});
    document["eips"].push_back({{"name", "eip-3"}, {"address", "203.0.113.12"}});
    document["nat_gateways"][0]["eips"].push_back("eip-3");
    dnat.push_back(
        {{"name", "whole"}, {"eip", "eip-3"}, {"protocol", "any"}, {"private_ip", "10.0.1.11"}});
    auto loaded = model::load_model(document.dump());
    for (const auto& error : loaded ? model::Errors{} : loaded.error())
        UNSCOPED_INFO(error.path << ": " << error.reason);
    REQUIRE(loaded.has_value());
    const conntrack::SessionNames names(*loaded);

    auto dnat_name = [&](std::string_view eip, std::uint8_t protocol, std::uint16_t port) {
        netlink::ConntrackEntry e;
        e.protocol = protocol;
        e.original = {addr("192.0.2.1"), addr(eip), 40000, port};
        e.reply = {addr("10.0.1.10"), addr("192.0.2.1"), port, 40000};
        e.status = netlink::kCtStatusDstNat;
        return std::string(names.name(e).dnat);
    };
    CHECK(dnat_name("203.0.113.11", 6, 80) == "web");
    CHECK(dnat_name("203.0.113.11", 17, 80).empty());  // the mapping is tcp only
    CHECK(dnat_name("203.0.113.11", 6, 81).empty());
    CHECK(dnat_name("203.0.113.11", 17, 1000) == "range");
    CHECK(dnat_name("203.0.113.11", 17, 1009) == "range");
    CHECK(dnat_name("203.0.113.11", 17, 1010).empty());
    CHECK(dnat_name("203.0.113.11", 6, 1005).empty());
    CHECK(dnat_name("203.0.113.12", 6, 80) == "whole");  // the IP mapping of eip-3
    CHECK(dnat_name("203.0.113.12", 1, 0) == "whole");
    CHECK(dnat_name("203.0.113.10", 6, 80).empty());  // eip-1: SNAT only
    CHECK(dnat_name("203.0.113.99", 6, 80).empty());  // not an EIP

    // Everything but the DNAT entries is kept as it was.
    auto without = *loaded;
    for (auto& gateway : without.nat_gateways)
        gateway.dnat_entries.clear();
    CHECK(names.model() == without);
    CHECK(!loaded->nat_gateways.front().dnat_entries.empty());
}

TEST_CASE("DNAT entry names follow one-entry changes exactly as a rebuild would", "[session_log]") {
    auto document = json::parse(kModel);
    document["nat_gateways"][0]["dnat_entries"] = json::array();
    auto loaded = model::load_model(document.dump());
    REQUIRE(loaded.has_value());
    model::Model current = *loaded;
    conntrack::DnatEntryNames names(current);

    auto entry_for = [](int key) {
        model::DnatEntry entry;
        entry.name = fmt::format("entry-{}", key);
        entry.eip = key % 2 ? "eip-1" : "eip-2";
        entry.protocol = key % 3 ? model::DnatProtocol::Tcp : model::DnatProtocol::Udp;
        const auto port = static_cast<std::uint16_t>(1000 + key * 4);
        entry.public_port = model::PortRange{port, static_cast<std::uint16_t>(port + key % 3)};
        entry.private_ip = model::Ipv4{addr("10.0.1.10")};
        entry.private_port = model::PortRange{port, static_cast<std::uint16_t>(port + key % 3)};
        return entry;
    };
    std::mt19937 random(7);
    std::vector<int> keys;  // in model order
    for (int step = 0; step < 600; ++step) {
        auto& entries = current.nat_gateways[0].dnat_entries;
        model::DnatEntryChange change{0, entries.size(), std::nullopt, std::nullopt};
        const int pick = static_cast<int>(random() % 4);
        if (keys.empty() || pick <= 1) {  // create, at the end
            int key = static_cast<int>(random() % 2000);
            if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
            change.after = entry_for(key);
            keys.push_back(key);
        } else {
            change.position = random() % keys.size();
            change.before = entries[change.position];
            if (pick == 2) {  // replace with another mapping under the same name
                auto replaced = entry_for(keys[change.position] + 2000);
                replaced.name = change.before->name;
                change.after = replaced;
            } else {
                keys.erase(keys.begin() + static_cast<std::ptrdiff_t>(change.position));
            }
        }
        REQUIRE(names.apply(change));
        model::apply(current, change);
    }
    const conntrack::DnatEntryNames rebuilt(current);
    std::size_t named = 0;
    for (std::uint32_t eip : {addr("203.0.113.10"), addr("203.0.113.11")})
        for (std::uint8_t protocol : {std::uint8_t{6}, std::uint8_t{17}})
            for (std::uint32_t port = 990; port < 17100; ++port) {
                const conntrack::PublicPort at{protocol, static_cast<std::uint16_t>(port)};
                INFO("eip " << eip << " protocol " << int(protocol) << " port " << port);
                REQUIRE(names.find(0, eip, at) == rebuilt.find(0, eip, at));
                named += !rebuilt.find(0, eip, at).empty();
            }
    CHECK(keys.size() > 100);
    CHECK(named > 100);  // the probes did meet entries

    // A change naming an EIP the table does not know leaves it to a rebuild.
    model::DnatEntryChange unknown{0, 0, std::nullopt, entry_for(1)};
    unknown.after->eip = "eip-9";
    CHECK_FALSE(names.apply(unknown));
}
