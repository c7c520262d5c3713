// Conntrack accounting without a kernel: the counts of hand-made entries, the tracker over
// a fake dump and a fake event stream (lost events, ENOBUFS, re-dump, convergence to the
// truth), the views the API shows and the /v1/ports and /v1/sessions routing.
#include <catch2/catch.hpp>

#include <cerrno>
#include <deque>
#include <random>
#include <string>
#include <string_view>

#include "cli/ports_command.hpp"
#include "controller/api/ports.hpp"
#include "controller/conntrack/accounting.hpp"
#include "controller/conntrack/tracker.hpp"
#include "controller/conntrack/views.hpp"
#include "controller/model/addr.hpp"
#include "controller/model/validate.hpp"
#include "tests/support/conntrack_fake.hpp"
#include "tests/unit/ipv4.hpp"

using namespace natctl;
using conntrack::Accounting;
using conntrack::Destination;
using netlink::ConntrackEntry;
using netlink::ConntrackEvent;
using netlink::ConntrackEventType;

using natctl::testing::addr;

namespace {

constexpr std::uint8_t kTcp = 6, kUdp = 17;

// source:sport -> dst:dport leaving as eip:public_port
ConntrackEntry snat(std::string_view source, std::uint16_t sport, std::string_view dst,
                    std::uint16_t dport, std::string_view eip, std::uint16_t public_port,
                    std::uint8_t protocol = kUdp) {
    ConntrackEntry e;
    e.protocol = protocol;
    e.original = {addr(source), addr(dst), sport, dport};
    e.reply = {addr(dst), addr(eip), dport, public_port};
    e.status = netlink::kCtStatusSrcNat;
    return e;
}

// remote:rport -> eip:public_port arriving at backend:private_port
ConntrackEntry dnat(std::string_view remote, std::uint16_t rport, std::string_view eip,
                    std::uint16_t public_port, std::string_view backend, std::uint16_t private_port,
                    std::uint8_t protocol = kTcp) {
    ConntrackEntry e;
    e.protocol = protocol;
    e.original = {addr(remote), addr(eip), rport, public_port};
    e.reply = {addr(backend), addr(remote), private_port, rport};
    e.status = netlink::kCtStatusDstNat;
    return e;
}

// ngw-1 (budget 100): eip-1, eip-2; snat-vsw (10.0.1.0/24 → eip-1, eip-2), snat-app
// (app-1 10.0.1.20 → eip-2); DNAT web tcp eip-1:80 → 10.0.1.10:8080, ipmap eip-3 →
// 10.0.1.30 (eip-3 on ngw-1 too). eip-9 attached to no gateway.
constexpr const char* kModel = R"({
  "version": 1,
  "vpcs": [{
    "name": "vpc-a", "cidr": "10.0.0.0/16", "interfaces": ["veth-vpc"],
    "vswitches": [{"name": "vsw-a", "cidr": "10.0.1.0/24"}],
    "instances": [
      {"name": "web-1", "vswitch": "vsw-a", "private_ips": ["10.0.1.10"]},
      {"name": "app-1", "vswitch": "vsw-a", "private_ips": ["10.0.1.20"]},
      {"name": "db-1", "vswitch": "vsw-a", "private_ips": ["10.0.1.30"]}
    ]
  }],
  "eips": [
    {"name": "eip-1", "address": "203.0.113.10"},
    {"name": "eip-2", "address": "203.0.113.11"},
    {"name": "eip-3", "address": "203.0.113.12"},
    {"name": "eip-9", "address": "203.0.113.19"}
  ],
  "nat_gateways": [{
    "name": "ngw-1", "vpc": "vpc-a", "outside_interface": "veth-wan",
    "upstream": "198.51.100.1", "eips": ["eip-1", "eip-2", "eip-3"],
    "port_budget_per_eip": 100,
    "snat_entries": [
      {"name": "snat-vsw", "source": {"vswitch": "vsw-a"}, "eips": ["eip-1", "eip-2"]},
      {"name": "snat-app", "source": {"instance": "app-1"}, "eips": ["eip-2"]}
    ],
    "dnat_entries": [
      {"name": "web", "eip": "eip-1", "protocol": "tcp", "public_port": "80",
       "private_ip": "10.0.1.10", "private_port": "8080"},
      {"name": "ipmap", "eip": "eip-3", "protocol": "any", "private_ip": "10.0.1.30"}
    ]
  }]
})";

model::Model test_model() {
    auto loaded = model::load_model(kModel);
    if (!loaded) FAIL("test model does not load");
    return *loaded;
}

// Events the test hands out batch by batch.
class FakeEvents : public netlink::ConntrackEventSource {
  public:
    std::expected<netlink::ConntrackEventBatch, netlink::ConntrackError> read(
        std::size_t max_messages) override {
        netlink::ConntrackEventBatch batch;
        if (overflow_) {
            batch.overflow = true;
            overflow_ = false;
        }
        while (!queue_.empty() && batch.events.size() < max_messages) {
            batch.events.push_back(queue_.front());
            queue_.pop_front();
        }
        batch.drained = queue_.empty();
        return batch;
    }
    void push(ConntrackEventType type, const ConntrackEntry& entry) {
        queue_.push_back({type, entry});
    }
    void lose_events() { overflow_ = true; }
    std::size_t queued() const { return queue_.size(); }

  private:
    std::deque<ConntrackEvent> queue_;
    bool overflow_ = false;
};

}  // namespace

TEST_CASE("accounting counts per EIP, destination tuple and source", "[conntrack][accounting]") {
    Accounting a;
    a.add(snat("10.0.1.10", 1000, "192.0.2.1", 53, "203.0.113.10", 2000));
    a.add(snat("10.0.1.10", 1001, "192.0.2.1", 53, "203.0.113.10", 2001));
    a.add(snat("10.0.1.11", 1000, "192.0.2.1", 53, "203.0.113.10", 2002));
    a.add(snat("10.0.1.11", 1000, "192.0.2.2", 53, "203.0.113.10", 2002));
    a.add(snat("10.0.1.11", 1000, "192.0.2.1", 53, "203.0.113.10", 2002, kTcp));
    a.add(dnat("192.0.2.9", 5555, "203.0.113.10", 80, "10.0.1.10", 8080));
    ConntrackEntry plain = snat("10.0.1.12", 1, "192.0.2.1", 2, "10.0.1.12", 1);
    plain.status = 0;
    a.add(plain);  // no NAT: not counted

    REQUIRE(a.sessions() == 6);
    const auto& eip = a.by_public().at(addr("203.0.113.10"));
    CHECK(eip.snat == 5);
    CHECK(eip.dnat == 1);
    CHECK(eip.destinations.at(Destination{addr("192.0.2.1"), 53, kUdp}) == 3);
    CHECK(eip.destinations.at(Destination{addr("192.0.2.2"), 53, kUdp}) == 1);
    CHECK(eip.destinations.at(Destination{addr("192.0.2.1"), 53, kTcp}) == 1);
    CHECK(eip.sources.at(addr("10.0.1.11")) == 3);
    CHECK(eip.public_ports.at(conntrack::PublicPort{kTcp, 80}) == 1);
    CHECK(a.by_private().at(addr("10.0.1.10")) == 3);  // 2 SNAT'd + DNAT backend

    SECTION("add is idempotent, remove of an unknown entry does nothing") {
        a.add(snat("10.0.1.10", 1000, "192.0.2.1", 53, "203.0.113.10", 2000));
        a.remove(snat("10.0.1.99", 1000, "192.0.2.1", 53, "203.0.113.10", 2000));
        CHECK(a.sessions() == 6);
        CHECK(a.by_public().at(addr("203.0.113.10")).snat == 5);
    }
    SECTION("a changed translation replaces the old one") {
        a.add(snat("10.0.1.10", 1000, "192.0.2.1", 53, "203.0.113.11", 2000));
        CHECK(a.sessions() == 6);
        CHECK(a.by_public().at(addr("203.0.113.10")).snat == 4);
        CHECK(a.by_public().at(addr("203.0.113.11")).snat == 1);
    }
    SECTION("removing everything leaves no counters behind") {
        a.remove(snat("10.0.1.10", 1000, "192.0.2.1", 53, "203.0.113.10", 2000));
        a.remove(snat("10.0.1.10", 1001, "192.0.2.1", 53, "203.0.113.10", 2001));
        a.remove(snat("10.0.1.11", 1000, "192.0.2.1", 53, "203.0.113.10", 2002));
        a.remove(snat("10.0.1.11", 1000, "192.0.2.2", 53, "203.0.113.10", 2002));
        a.remove(snat("10.0.1.11", 1000, "192.0.2.1", 53, "203.0.113.10", 2002, kTcp));
        a.remove(dnat("192.0.2.9", 5555, "203.0.113.10", 80, "10.0.1.10", 8080));
        CHECK(a.sessions() == 0);
        CHECK(a.by_public().empty());
        CHECK(a.by_private().empty());
    }
}

TEST_CASE("the tracker follows events and re-dumps after ENOBUFS", "[conntrack][tracker]") {
    netlink::ConntrackFake table;
    FakeEvents events;
    conntrack::Tracker tracker(table, events);
    auto e1 = snat("10.0.1.10", 1000, "192.0.2.1", 53, "203.0.113.10", 2000);
    auto e2 = snat("10.0.1.10", 1001, "192.0.2.1", 53, "203.0.113.10", 2001);
    auto e3 = snat("10.0.1.10", 1002, "192.0.2.1", 53, "203.0.113.10", 2002);
    table.insert(e1);
    REQUIRE(tracker.resync());
    CHECK(tracker.accounting().sessions() == 1);
    CHECK(tracker.stats().in_sync);

    table.insert(e2);
    events.push(ConntrackEventType::New, e2);
    events.push(ConntrackEventType::New, e1);  // seen in the dump already: counts once
    REQUIRE(tracker.on_readable().value() == false);
    CHECK(tracker.accounting().sessions() == 2);
    CHECK(tracker.stats().events == 2);

    // e3 arrives and e1 goes, but the events are lost: only ENOBUFS tells.
    table.insert(e3);
    auto gone = table.remove(e1);
    REQUIRE(gone.value());
    events.lose_events();
    events.push(ConntrackEventType::New, e1);  // stale, queued before the loss
    const auto dumps = table.dumps();
    REQUIRE(tracker.on_readable());
    CHECK(tracker.stats().overflows == 1);
    CHECK(table.dumps() == dumps + 1);
    CHECK(events.queued() == 0);  // the stale queue was discarded
    CHECK(tracker.accounting().sessions() == 2);
    CHECK(tracker.stats().in_sync);

    SECTION("a failed re-dump leaves it out of sync, the next one recovers") {
        table.fail_dump(EIO);
        events.lose_events();
        CHECK_FALSE(tracker.on_readable());
        CHECK_FALSE(tracker.stats().in_sync);
        CHECK(tracker.stats().resync_failures == 1);
        REQUIRE(tracker.resync());
        CHECK(tracker.stats().in_sync);
        CHECK(tracker.accounting().sessions() == 2);
    }
}

TEST_CASE("random churn with lost events converges to the table", "[conntrack][tracker]") {
    std::mt19937 random(12345);
    netlink::ConntrackFake table;
    FakeEvents events;
    conntrack::Tracker tracker(table, events);
    REQUIRE(tracker.resync());
    std::vector<ConntrackEntry> live;
    const char* eips[] = {"203.0.113.10", "203.0.113.11"};
    const char* dsts[] = {"192.0.2.1", "192.0.2.2", "198.51.100.7"};
    for (int round = 0; round < 50; ++round) {
        bool lost = false;
        for (int i = 0; i < 200; ++i) {
            const bool add = live.empty() || random() % 3 != 0;
            ConntrackEventType type = ConntrackEventType::New;
            ConntrackEntry entry;
            if (add) {
                auto port = static_cast<std::uint16_t>(1024 + random() % 60000);
                entry = snat(random() % 2 ? "10.0.1.10" : "10.0.1.11", port, dsts[random() % 3], 53,
                             eips[random() % 2], port);
                if (!table.remove(entry).value()) live.push_back(entry);
                table.insert(entry);
            } else {
                const auto index = random() % live.size();
                entry = live[index];
                live.erase(live.begin() + static_cast<std::ptrdiff_t>(index));
                REQUIRE(table.remove(entry).value());
                type = ConntrackEventType::Destroy;
            }
            if (random() % 50 == 0)
                lost = true;  // this event never arrives
            else
                events.push(type, entry);
        }
        if (lost) events.lose_events();
        while (tracker.on_readable(37).value()) {
        }
        Accounting truth;
        truth.reset(table.dump_nat().value());
        INFO("round " << round);
        REQUIRE(tracker.accounting().sessions() == truth.sessions());
        REQUIRE(tracker.accounting().by_public() == truth.by_public());
        REQUIRE(tracker.accounting().by_private() == truth.by_private());
    }
    CHECK(tracker.stats().overflows > 0);
    CHECK(tracker.stats().resyncs == tracker.stats().overflows + 1);
}

TEST_CASE("ports view: names, budgets, utilization and entries", "[conntrack][views]") {
    auto model = test_model();
    netlink::ConntrackFake table;
    FakeEvents events;
    conntrack::Tracker tracker(table, events);
    // eip-1: 30 sessions from vsw-a to 192.0.2.1:53, 5 to 192.0.2.2:53; eip-2: app-1 x 4
    for (std::uint16_t i = 0; i < 30; ++i)
        table.insert(snat("10.0.1.10", std::uint16_t(1000 + i), "192.0.2.1", 53, "203.0.113.10",
                          std::uint16_t(2000 + i)));
    for (std::uint16_t i = 0; i < 5; ++i)
        table.insert(snat("10.0.1.11", std::uint16_t(1000 + i), "192.0.2.2", 53, "203.0.113.10",
                          std::uint16_t(3000 + i)));
    for (std::uint16_t i = 0; i < 4; ++i)
        table.insert(snat("10.0.1.20", std::uint16_t(1000 + i), "192.0.2.2", 443, "203.0.113.11",
                          std::uint16_t(4000 + i), kTcp));
    table.insert(dnat("192.0.2.9", 5555, "203.0.113.10", 80, "10.0.1.10", 8080));
    table.insert(dnat("192.0.2.9", 5556, "203.0.113.12", 22, "10.0.1.30", 22));
    table.insert(snat("10.9.0.1", 1, "192.0.2.1", 53, "198.51.100.2", 1));  // masquerade
    REQUIRE(tracker.resync());

    auto view = conntrack::ports_view(model, tracker, {.top = 1});
    INFO(view.dump(2));
    REQUIRE(view["eips"].size() == 4);
    const auto& e1 = view["eips"][0];
    CHECK(e1["name"] == "eip-1");
    CHECK(e1["address"] == "203.0.113.10");
    CHECK(e1["gateway"] == "ngw-1");
    CHECK(e1["port_budget"] == 100);
    CHECK(e1["sessions"] == 36);
    CHECK(e1["snat_sessions"] == 35);
    CHECK(e1["dnat_sessions"] == 1);
    CHECK(e1["destinations"] == 2);
    CHECK(e1["utilization"].get<double>() == Approx(0.30));  // worst tuple 30 / budget 100
    REQUIRE(e1["top_destinations"].size() == 1);
    CHECK(e1["top_destinations"][0]["address"] == "192.0.2.1");
    CHECK(e1["top_destinations"][0]["port"] == 53);
    CHECK(e1["top_destinations"][0]["protocol"] == "udp");
    CHECK(e1["top_destinations"][0]["sessions"] == 30);
    CHECK(view["eips"][1]["sessions"] == 4);
    CHECK(view["eips"][2]["dnat_sessions"] == 1);
    CHECK(view["eips"][3]["name"] == "eip-9");
    CHECK(view["eips"][3]["gateway"].is_null());
    CHECK(view["eips"][3]["port_budget"] == 55000);
    CHECK(view["eips"][3]["sessions"] == 0);
    // Enforced where a SNAT entry uses the EIP; eip-3 (an IP mapping) and eip-9 have none.
    CHECK(e1["budget_in_force"] == 100);
    CHECK(view["eips"][1]["budget_in_force"] == 100);
    CHECK(view["eips"][2]["budget_in_force"].is_null());
    CHECK(view["eips"][3]["budget_in_force"].is_null());
    CHECK(view["top_sources"][0] == nlohmann::json{{"address", "10.0.1.10"}, {"sessions", 31}});
    CHECK(view["snat_entries"] == nlohmann::json::parse(
                                      R"([{"gateway":"ngw-1","name":"snat-app","sessions":4},
                                          {"gateway":"ngw-1","name":"snat-vsw","sessions":35}])"));
    CHECK(view["dnat_entries"] == nlohmann::json::parse(
                                      R"([{"gateway":"ngw-1","name":"ipmap","sessions":1},
                                          {"gateway":"ngw-1","name":"web","sessions":1}])"));
    CHECK(view["other_addresses"] ==
          nlohmann::json::parse(R"([{"address":"198.51.100.2","sessions":1}])"));
    CHECK(view["conntrack"]["sessions"] == 42);

    auto only = conntrack::ports_view(model, tracker, {.eip = "eip-2"});
    REQUIRE(only["eips"].size() == 1);
    CHECK(only["eips"][0]["name"] == "eip-2");
    CHECK(only["top_sources"][0]["address"] == "10.0.1.20");

    auto sessions = conntrack::sessions_view(model, tracker, {.eip = "eip-2", .limit = 2});
    CHECK(sessions["matched"] == 4);
    CHECK(sessions["truncated"] == true);
    REQUIRE(sessions["sessions"].size() == 2);
    CHECK(sessions["sessions"][0] == nlohmann::json::parse(R"({
        "protocol": "tcp", "type": "snat", "eip": "eip-2",
        "original": {"src": "10.0.1.20", "sport": 1000, "dst": "192.0.2.2", "dport": 443},
        "translated": {"src": "203.0.113.11", "sport": 4000, "dst": "192.0.2.2", "dport": 443}})"));
    auto by_source = conntrack::sessions_view(model, tracker, {.source = addr("192.0.2.9")});
    CHECK(by_source["matched"] == 2);
    CHECK(by_source["sessions"][0]["type"] == "dnat");
    CHECK(by_source["sessions"][0]["translated"]["dst"] == "10.0.1.10");
    CHECK(conntrack::sessions_view(model, tracker, {.eip = "nope"})["matched"] == 0);
}

TEST_CASE("GET /v1/ports and /v1/sessions routing", "[conntrack][api]") {
    auto model = test_model();
    netlink::ConntrackFake table;
    FakeEvents events;
    conntrack::Tracker tracker(table, events);
    REQUIRE(tracker.resync());
    auto get = [&](std::string target, const conntrack::Tracker* t, std::string method = "GET") {
        api::HttpRequest request;
        request.method = std::move(method);
        request.target = std::move(target);
        return api::handle_conntrack_request(request, model, t);
    };
    CHECK_FALSE(get("/v1/config", &tracker));
    CHECK_FALSE(get("/v1/ports/x", &tracker));
    CHECK(get("/v1/ports", &tracker)->status == 200);
    CHECK(get("/v1/ports?gateway=ngw-1&top=3", &tracker)->status == 200);
    CHECK(get("/v1/sessions?source=10.0.1.10&destination=192.0.2.1&eip=eip-1&limit=5", &tracker)
              ->status == 200);
    CHECK(get("/v1/ports", nullptr)->status == 503);
    CHECK(get("/v1/ports", &tracker, "POST")->status == 405);
    CHECK(get("/v1/ports?bogus=1", &tracker)->status == 400);
    CHECK(get("/v1/ports?top=x", &tracker)->status == 400);
    auto bad = get("/v1/sessions?source=10.0.1", &tracker);
    CHECK(bad->status == 400);
    CHECK(bad->body.find("?source") != std::string::npos);
}

TEST_CASE("natctl ports and sessions tables", "[conntrack][cli]") {
    auto model = test_model();
    netlink::ConntrackFake table;
    FakeEvents events;
    conntrack::Tracker tracker(table, events);
    for (std::uint16_t i = 0; i < 3; ++i)
        table.insert(snat("10.0.1.10", std::uint16_t(1000 + i), "192.0.2.1", 53, "203.0.113.10",
                          std::uint16_t(2000 + i)));
    REQUIRE(tracker.resync());
    const auto ports = cli::format_ports(conntrack::ports_view(model, tracker, {.eip = "eip-1"}));
    INFO(ports);
    CHECK(ports.starts_with(
        "EIP    ADDRESS       GATEWAY  SESSIONS  SNAT  DNAT  BUDGET  IN FORCE  UTILIZATION\n"
        "eip-1  203.0.113.10  ngw-1    3         3     0     100     100       3.0%\n"));
    CHECK(ports.find("eip-1  192.0.2.1:53  udp    3         3.0%") != std::string::npos);
    CHECK(ports.find("3 NAT sessions, in sync, 0 events, 0 ENOBUFS, 1 dumps") != std::string::npos);
    const auto sessions =
        cli::format_sessions(conntrack::sessions_view(model, tracker, {.limit = 1}));
    INFO(sessions);
    CHECK(sessions ==
          "PROTO  TYPE  EIP    ORIGINAL                        TRANSLATED\n"
          "udp    snat  eip-1  10.0.1.10:1000 -> 192.0.2.1:53  203.0.113.10:2000 -> 192.0.2.1:53\n"
          "(3 sessions matched; raise --limit to see more)\n");
}

TEST_CASE("GET /v1/ports shows the port budget counters per gateway and entry",
          "[conntrack][api]") {
    auto model = test_model();
    netlink::ConntrackFake table;
    FakeEvents events;
    conntrack::Tracker tracker(table, events);
    REQUIRE(tracker.resync());
    using Kind = kernel::CounterRole::Kind;
    api::BudgetCounts counts{
        {{Kind::Refused, "ngw-1", "snat-vsw", kernel::kRefusalBudget}, {3}},
        {{Kind::Refused, "ngw-1", "snat-vsw", kernel::kRefusalInstanceLimit}, {2}},
        {{Kind::Steered, "ngw-1", "snat-vsw", ""}, {7}},
        {{Kind::Refused, "ngw-1", "", kernel::kRefusalBudget}, {1}},
        {{Kind::Steered, "ngw-2", "other", ""}, {4}},
    };
    api::HttpRequest request{"GET", "/v1/ports?gateway=ngw-1", {}, "", std::nullopt};
    auto answer = api::handle_conntrack_request(request, model, &tracker,
                                                [&] { return std::optional(counts); });
    REQUIRE(answer);
    REQUIRE(answer->status == 200);
    const auto body = nlohmann::json::parse(answer->body);
    INFO(body.dump(2));
    CHECK(body["budget"] == nlohmann::json::parse(R"({"entries": [
        {"gateway": "ngw-1", "entry": "-", "port_allocation_errors": 1,
         "port_allocation_errors_by_reason": {"budget": 1}, "steered": 0},
        {"gateway": "ngw-1", "entry": "snat-vsw", "port_allocation_errors": 5,
         "port_allocation_errors_by_reason": {"budget": 3, "instance_limit": 2}, "steered": 7}]})"));
    const auto table_text = cli::format_ports(body);
    INFO(table_text);
    CHECK(table_text.find("ngw-1    snat-vsw  5        budget 3, instance_limit 2  7") !=
          std::string::npos);

    // Without a reader of the counters: null.
    auto without = api::handle_conntrack_request(request, model, &tracker);
    REQUIRE(without);
    CHECK(nlohmann::json::parse(without->body)["budget"].is_null());
}
