// The conntrack purger without a kernel: where a purge reads the NAT'd entries (the
// tracker once it caught up, a dump when it cannot), exactly what it deletes, and that it
// judges and deletes under the index mutex against the translation index of that moment.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/compiler/translations.hpp"
#include "controller/conntrack/purger.hpp"
#include "controller/daemon/data_plane.hpp"
#include "tests/support/conntrack_fake.hpp"
#include "tests/support/nft_fake.hpp"
#include "tests/support/route_fake.hpp"

using namespace natctl;
using netlink::ConntrackEntry;
using Source = conntrack::ConntrackPurger::Source;

namespace {

constexpr std::uint32_t ipv4(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
    return a << 24 | b << 16 | c << 8 | d;
}

constexpr std::uint8_t kTcp = 6;
constexpr std::uint32_t kEip = ipv4(203, 0, 113, 10);
constexpr std::uint32_t kBackend = ipv4(10, 0, 1, 10);
constexpr std::uint32_t kOtherBackend = ipv4(10, 0, 1, 20);
constexpr std::uint32_t kClient = ipv4(192, 0, 2, 1);

// The translations of one port mapping, eip:80/tcp → backend:8080, in VPC 10.0.0.0/16.
compiler::TranslationIndex web_to(std::uint32_t backend) {
    compiler::TranslationIndex index;
    index.port_mappings.push_back({kEip, kTcp, 80, 80, backend, 8080});
    index.vpc_ranges.push_back({ipv4(10, 0, 0, 0), ipv4(10, 0, 255, 255)});
    index.public_addresses.push_back(kEip);
    return index;
}

// client:client_port → eip:80, translated to backend:8080.
ConntrackEntry web_session(std::uint16_t client_port, std::uint32_t backend) {
    ConntrackEntry entry;
    entry.protocol = kTcp;
    entry.original = {kClient, kEip, client_port, 80};
    entry.reply = {backend, kClient, 8080, client_port};
    entry.status = netlink::kCtStatusDstNat;
    return entry;
}

// Another agent's DNAT, outside the model: never natctl's to delete.
ConntrackEntry foreign_session() {
    ConntrackEntry entry;
    entry.protocol = kTcp;
    entry.original = {kClient, ipv4(198, 18, 0, 1), 50000, 80};
    entry.reply = {ipv4(172, 16, 0, 5), kClient, 80, 50000};
    entry.status = netlink::kCtStatusDstNat;
    return entry;
}

// Whether another thread could take `mutex` right now (nobody holds it).
bool free_elsewhere(std::mutex& mutex) {
    return std::async(std::launch::async,
                      [&mutex] {
                          if (!mutex.try_lock()) return false;
                          mutex.unlock();
                          return true;
                      })
        .get();
}

// What the fake tracker holds and how it answers; the test keeps it, the purger owns the fake.
struct TrackerScript {
    std::vector<ConntrackEntry> entries;
    std::optional<std::string> catch_up_error;
    std::optional<std::string> visit_error;  // fell out of sync after the catch-up
    std::function<void()> during_catch_up;
    std::function<void()> during_visit;
    std::size_t catch_ups = 0;
    std::size_t visits = 0;
};

class FakeTrackedEntries final : public conntrack::NatEntrySource {
  public:
    explicit FakeTrackedEntries(TrackerScript& script) : script_(script) {}

    std::expected<void, std::string> catch_up() override {
        ++script_.catch_ups;
        if (script_.during_catch_up) script_.during_catch_up();
        if (script_.catch_up_error) return std::unexpected(*script_.catch_up_error);
        return {};
    }

    std::expected<void, std::string> for_each(const Visit& visit) const override {
        ++script_.visits;
        if (script_.during_visit) script_.during_visit();
        if (script_.visit_error) return std::unexpected(*script_.visit_error);
        for (const auto& entry : script_.entries)
            visit(entry);
        return {};
    }

  private:
    TrackerScript& script_;
};

// The conntrack table, noting every deletion made while the index mutex was free.
class WatchedTable final : public netlink::ConntrackBackend {
  public:
    WatchedTable(netlink::ConntrackFake& table, std::mutex& index_mutex)
        : table_(table), index_mutex_(index_mutex) {}

    std::expected<std::vector<ConntrackEntry>, netlink::ConntrackError> dump_nat() override {
        return table_.dump_nat();
    }
    std::expected<bool, netlink::ConntrackError> remove(const ConntrackEntry& entry) override {
        if (free_elsewhere(index_mutex_)) ++removals_unlocked;
        return table_.remove(entry);
    }

    std::size_t removals_unlocked = 0;

  private:
    netlink::ConntrackFake& table_;
    std::mutex& index_mutex_;
};

conntrack::ConntrackPurger::Stats purge_once(conntrack::ConntrackPurger& purger,
                                             std::uint64_t revision) {
    purger.request(revision);
    purger.wait_idle();
    return purger.stats();
}

}  // namespace

TEST_CASE("A purge judges the tracker's entries once it caught up and dumps nothing",
          "[conntrack][purger]") {
    const auto current = web_session(40000, kBackend);
    const auto moved = web_session(40001, kOtherBackend);  // the mapping's old backend
    const auto foreign = foreign_session();
    const auto gone = web_session(40002, kOtherBackend);  // ended before its DESTROY applied
    netlink::ConntrackFake table;
    for (const auto& entry : {current, moved, foreign})
        table.insert(entry);
    TrackerScript tracker{.entries = {current, moved, foreign, gone}};
    std::mutex index_mutex;
    const std::optional<compiler::TranslationIndex> index = web_to(kBackend);
    conntrack::ConntrackPurger purger(table, index_mutex, index,
                                      std::make_unique<FakeTrackedEntries>(tracker));

    const auto stats = purge_once(purger, 7);
    CHECK(table.dumps() == 0);
    CHECK(tracker.catch_ups == 1);
    CHECK(tracker.visits == 1);
    CHECK(table.entries() == std::vector<ConntrackEntry>{current, foreign});
    CHECK(table.removals() == 2);  // moved and gone; gone was not there any more
    CHECK(stats.from_tracker == 1);
    CHECK(stats.from_dump == 0);
    CHECK(stats.purged_total == 1);
    CHECK(stats.failures_total == 0);
    REQUIRE(stats.last);
    CHECK(stats.last->revision == 7);
    CHECK(stats.last->source == Source::Tracker);
    CHECK(stats.last->removed == std::optional<std::size_t>(1));
    CHECK(stats.last->error.empty());
    CHECK(stats.last->fallback.empty());
}

TEST_CASE("A purge dumps when the tracker cannot vouch for its entries", "[conntrack][purger]") {
    const auto current = web_session(40000, kBackend);
    const auto moved = web_session(40001, kOtherBackend);
    netlink::ConntrackFake table;
    table.insert(current);
    table.insert(moved);
    // The tracker's picture lacks `moved`: only a dump can find it.
    TrackerScript tracker{.entries = {current}};
    std::mutex index_mutex;
    const std::optional<compiler::TranslationIndex> index = web_to(kBackend);
    conntrack::ConntrackPurger purger(table, index_mutex, index,
                                      std::make_unique<FakeTrackedEntries>(tracker));

    // The dump found `moved`, which the tracker lacks, and the purge says why it dumped.
    const auto check_dumped = [&](const std::string& fallback) {
        const auto stats = purge_once(purger, 3);
        CHECK(table.dumps() == 1);
        CHECK(table.entries() == std::vector<ConntrackEntry>{current});
        CHECK(stats.from_dump == 1);
        CHECK(stats.from_tracker == 0);
        CHECK(stats.purged_total == 1);
        REQUIRE(stats.last);
        CHECK(stats.last->source == Source::Dump);
        CHECK(stats.last->fallback == fallback);
        CHECK(stats.last->error.empty());
    };
    SECTION("the catch-up failed") {
        tracker.catch_up_error = "conntrack accounting is not in sync";
        check_dumped(*tracker.catch_up_error);
        CHECK(tracker.visits == 0);
    }
    SECTION("the tracker fell out of sync after catching up") {
        tracker.visit_error = "conntrack accounting fell out of sync";
        check_dumped(*tracker.visit_error);
        CHECK(tracker.visits == 1);
    }
    SECTION("and the dump failed too") {
        tracker.catch_up_error = "conntrack events not applied within 1000 ms";
        table.fail_dump(EIO);
        const auto stats = purge_once(purger, 3);
        CHECK(table.entries().size() == 2);
        CHECK(stats.from_dump == 1);
        CHECK(stats.failures_total == 1);
        CHECK(purger.owes_retry());
        REQUIRE(stats.last);
        CHECK_FALSE(stats.last->error.empty());
        CHECK_FALSE(stats.last->removed);
    }
}

TEST_CASE("Without a tracker a purge dumps, with no fallback to report", "[conntrack][purger]") {
    netlink::ConntrackFake table;
    table.insert(web_session(40001, kOtherBackend));
    std::mutex index_mutex;
    const std::optional<compiler::TranslationIndex> index = web_to(kBackend);
    conntrack::ConntrackPurger purger(table, index_mutex, index);

    const auto stats = purge_once(purger, 1);
    CHECK(table.dumps() == 1);
    CHECK(table.entries().empty());
    CHECK(stats.from_dump == 1);
    REQUIRE(stats.last);
    CHECK(stats.last->source == Source::Dump);
    CHECK(stats.last->fallback.empty());
}

TEST_CASE(
    "The tracker's entries are judged and deleted under the index mutex, by the index "
    "current then",
    "[conntrack][purger]") {
    const auto on_first = web_session(40000, kBackend);
    const auto on_second = web_session(40001, kOtherBackend);
    netlink::ConntrackFake kernel_table;
    kernel_table.insert(on_first);
    kernel_table.insert(on_second);
    TrackerScript tracker{.entries = {on_first, on_second}};
    std::mutex index_mutex;
    std::optional<compiler::TranslationIndex> index = web_to(kBackend);
    WatchedTable table(kernel_table, index_mutex);
    bool caught_up_without_mutex = false;
    bool visited_under_mutex = false;
    // The catch-up waits for another thread: it must not hold up applies meanwhile. One
    // comes in then and moves the mapping to the other backend, as the data plane does.
    tracker.during_catch_up = [&] {
        caught_up_without_mutex = free_elsewhere(index_mutex);
        std::lock_guard apply(index_mutex);
        index = web_to(kOtherBackend);
    };
    tracker.during_visit = [&] { visited_under_mutex = !free_elsewhere(index_mutex); };
    conntrack::ConntrackPurger purger(table, index_mutex, index,
                                      std::make_unique<FakeTrackedEntries>(tracker));

    const auto stats = purge_once(purger, 1);
    CHECK(caught_up_without_mutex);
    CHECK(visited_under_mutex);
    CHECK(table.removals_unlocked == 0);
    CHECK(kernel_table.entries() == std::vector<ConntrackEntry>{on_second});
    CHECK(stats.purged_total == 1);
    CHECK(stats.from_tracker == 1);
}

TEST_CASE("Without a translation index a purge fails and deletes nothing", "[conntrack][purger]") {
    netlink::ConntrackFake table;
    table.insert(web_session(40001, kOtherBackend));
    TrackerScript tracker{.entries = table.entries()};
    std::mutex index_mutex;
    const std::optional<compiler::TranslationIndex> index;  // the last apply failed
    conntrack::ConntrackPurger purger(table, index_mutex, index,
                                      std::make_unique<FakeTrackedEntries>(tracker));

    const auto stats = purge_once(purger, 2);
    CHECK(table.entries().size() == 1);
    CHECK(table.dumps() == 0);
    CHECK(tracker.visits == 0);
    CHECK(stats.failures_total == 1);
    CHECK(stats.from_tracker == 1);
    REQUIRE(stats.last);
    CHECK(stats.last->error == "no translation index: the last apply failed");
}

TEST_CASE("The data plane's status counts the purges by source", "[conntrack][purger][daemon]") {
    netlink::NftFake nft;
    netlink::RouteFake routes{{"veth-wan"}};
    netlink::ConntrackFake table;
    TrackerScript tracker;
    daemon::ReconcilerDataPlane plane(nft, routes, nullptr, {std::nullopt, "not probed"});
    CHECK_FALSE(plane.status().contains("conntrack_purge"));

    plane.defer_conntrack_purges(table, std::make_unique<FakeTrackedEntries>(tracker));
    const auto status = plane.status()["conntrack_purge"];
    CHECK(status["from_tracker"] == 0);
    CHECK(status["from_dump"] == 0);
    CHECK(status["last"].is_null());

    plane.stop_deferring_conntrack_purges();
    CHECK_FALSE(plane.status().contains("conntrack_purge"));
}
