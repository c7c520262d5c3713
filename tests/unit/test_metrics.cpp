// The Prometheus metrics: the registry and its text exposition (format 0.0.4, written by
// prometheus-cpp), natctld's own metrics and the --metrics address.
#include <catch2/catch.hpp>

#include <unistd.h>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "controller/daemon/data_plane.hpp"
#include "controller/daemon/http_server.hpp"
#include "controller/metrics/daemon.hpp"
#include "controller/metrics/registry.hpp"
#include "controller/model/validate.hpp"
#include "tests/support/nft_fake.hpp"
#include "tests/support/route_fake.hpp"
#include "tests/unit/temp_dir.hpp"

using namespace natctl;
using metrics::Exposition;
using metrics::Registry;

TEST_CASE("metrics: a small registry renders exactly, with escapes and histogram buckets",
          "[metrics]") {
    Registry registry;
    const std::string help = "Requests.\nBy result \\ code.";
    auto& ok = registry.counter("t_requests_total", help, {{"result", "ok"}});
    auto& error = registry.counter("t_requests_total", help, {{"result", "error"}});
    ok.Increment(3);
    error.Increment();
    CHECK(&registry.counter("t_requests_total", help, {{"result", "ok"}}) == &ok);
    registry.gauge("t_temperature_celsius", "Temp.", {{"room", "a\"b\\c\nd"}}).Set(-1.5);
    auto& latency = registry.histogram("t_latency_seconds", "Latency.", {0.125, 1});
    for (double v : {0.0625, 0.125, 0.5, 4.0})
        latency.Observe(v);  // 0.125: le is inclusive
    auto& by_op = registry.histogram("t_op_seconds", "Per op.", {1}, {{"op", "get"}});
    by_op.Observe(2);
    registry.add_collector([](Exposition& out) {
        out.gauge("t_sessions", "Sessions.", {{"eip", "e1"}, {"entry", "s"}}, 2);
        out.counter("t_errors_total", "Errors.", {}, 0);
        out.gauge("t_sessions", "Sessions.", {{"eip", "e0"}, {"entry", "s"}}, 1);
    });

    const std::string expected =
        "# HELP t_requests_total Requests.\\nBy result \\\\ code.\n"
        "# TYPE t_requests_total counter\n"
        "t_requests_total{result=\"error\"} 1\n"
        "t_requests_total{result=\"ok\"} 3\n"
        "# HELP t_temperature_celsius Temp.\n"
        "# TYPE t_temperature_celsius gauge\n"
        "t_temperature_celsius{room=\"a\\\"b\\\\c\\nd\"} -1.5\n"
        "# HELP t_latency_seconds Latency.\n"
        "# TYPE t_latency_seconds histogram\n"
        "t_latency_seconds_count 4\n"
        "t_latency_seconds_sum 4.6875\n"
        "t_latency_seconds_bucket{le=\"0.125\"} 2\n"
        "t_latency_seconds_bucket{le=\"1\"} 3\n"
        "t_latency_seconds_bucket{le=\"+Inf\"} 4\n"
        "# HELP t_op_seconds Per op.\n"
        "# TYPE t_op_seconds histogram\n"
        "t_op_seconds_count{op=\"get\"} 1\n"
        "t_op_seconds_sum{op=\"get\"} 2\n"
        "t_op_seconds_bucket{op=\"get\",le=\"1\"} 0\n"
        "t_op_seconds_bucket{op=\"get\",le=\"+Inf\"} 1\n"
        "# HELP t_sessions Sessions.\n"
        "# TYPE t_sessions gauge\n"
        "t_sessions{eip=\"e1\",entry=\"s\"} 2\n"
        "t_sessions{eip=\"e0\",entry=\"s\"} 1\n"
        "# HELP t_errors_total Errors.\n"
        "# TYPE t_errors_total counter\n"
        "t_errors_total 0\n";
    auto text = registry.render();
    CHECK(text == expected);
    CHECK(registry.render() == text);  // rendering changes nothing
}

TEST_CASE("metrics: values, names and escapes", "[metrics]") {
    Exposition values;
    const double samples[] = {0,        42,       0.005, -2.5, 1e21, 18446744073709551615.0,
                              HUGE_VAL, -HUGE_VAL};
    for (std::size_t i = 0; i < std::size(samples); ++i)
        values.gauge("v", "V.", {{"i", std::to_string(i)}}, samples[i]);
    CHECK(values.text() ==
          "# HELP v V.\n# TYPE v gauge\n"
          "v{i=\"0\"} 0\nv{i=\"1\"} 42\nv{i=\"2\"} 0.005\nv{i=\"3\"} -2.5\nv{i=\"4\"} 1e+21\n"
          "v{i=\"5\"} 1.844674407370955e+19\nv{i=\"6\"} +Inf\nv{i=\"7\"} -Inf\n");

    CHECK(metrics::valid_metric_name("natctl_applies_total"));
    CHECK(metrics::valid_metric_name("a:b_c9"));
    CHECK_FALSE(metrics::valid_metric_name("9a"));
    CHECK_FALSE(metrics::valid_metric_name("a-b"));
    CHECK_FALSE(metrics::valid_metric_name(""));
    CHECK(metrics::valid_label_name("eip"));
    CHECK_FALSE(metrics::valid_label_name("__name__"));
    CHECK_FALSE(metrics::valid_label_name("a:b"));

    CHECK(metrics::escape_help("a\\b\n\"c\"") == "a\\\\b\\n\"c\"");
}

TEST_CASE("metrics: programming errors are refused", "[metrics]") {
    Registry registry;
    registry.counter("x_total", "X.");
    CHECK_THROWS_AS(registry.gauge("x_total", "X."), std::invalid_argument);
    CHECK_THROWS_AS(registry.counter("x_total", "Other help."), std::invalid_argument);
    CHECK_THROWS_AS(registry.counter("bad-name_total", "X."), std::invalid_argument);
    CHECK_THROWS_AS(registry.counter("y_total", "Y.", {{"a", "1"}, {"a", "2"}}),
                    std::invalid_argument);
    CHECK_THROWS_AS(registry.histogram("h", "H.", {1}, {{"le", "1"}}), std::invalid_argument);
    CHECK_THROWS_AS(registry.histogram("h2", "H.", {1, 1}), std::invalid_argument);
    registry.histogram("h3", "H.", {1, 2});
    CHECK_THROWS_AS(registry.histogram("h3", "H.", {1, 3}, {{"a", "b"}}), std::invalid_argument);

    Exposition out;
    out.gauge("g", "G.", {{"a", "1"}}, 1);
    CHECK_THROWS_AS(out.gauge("g", "G.", {{"a", "1"}}, 2), std::invalid_argument);
    CHECK_THROWS_AS(out.counter("g", "G.", {}, 1), std::invalid_argument);
    CHECK_THROWS_AS(out.histogram("hh", "H.", {}, {1}, {1}, 0), std::invalid_argument);
    CHECK(out.has_family("g"));
    CHECK_FALSE(out.has_family("hh"));
}

TEST_CASE("metrics: natctld's own metrics", "[metrics]") {
    natctl::testing::TempDir netfilter{"metrics"};
    std::ofstream(netfilter.path() / "nf_conntrack_count") << "5\n";
    std::ofstream(netfilter.path() / "nf_conntrack_max") << "65536\n";
    std::uint64_t revision = 7;
    bool in_sync = false;
    std::uint64_t repairs = 2;
    Registry registry;
    metrics::DaemonMetrics daemon(
        registry, "1.2.3",
        {[&] { return revision; }, [&] { return in_sync; }, [&] { return repairs; }},
        netfilter.path());
    daemon.record_apply(true, std::chrono::milliseconds(3));
    daemon.record_apply(true, std::chrono::milliseconds(40));
    daemon.record_apply(false, std::chrono::seconds(45));
    in_sync = true;

    auto text = registry.render();
    INFO(text);
    for (const char* line : {
             "natctl_applies_total{result=\"ok\"} 2\n",
             "natctl_applies_total{result=\"error\"} 1\n",
             "natctl_apply_duration_seconds_bucket{le=\"0.005\"} 1\n",
             "natctl_apply_duration_seconds_bucket{le=\"0.05\"} 2\n",
             "natctl_apply_duration_seconds_bucket{le=\"30\"} 2\n",
             "natctl_apply_duration_seconds_bucket{le=\"+Inf\"} 3\n",
             "natctl_apply_duration_seconds_count 3\n",
             "# TYPE natctl_drift_repairs_total counter\nnatctl_drift_repairs_total 2\n",
             "# TYPE natctl_revision gauge\nnatctl_revision 7\n",
             "natctl_reconcile_in_sync 1\n",
             "# TYPE natctl_conntrack_entries gauge\nnatctl_conntrack_entries 5\n",
             "natctl_conntrack_max 65536\n",
             "natctl_build_info{version=\"1.2.3\"} 1\n",
         }) {
        CHECK(text.find(line) != std::string::npos);
    }

    // read at scrape time
    std::ofstream(netfilter.path() / "nf_conntrack_count") << "6\n";
    revision = 8;
    text = registry.render();
    CHECK(text.find("natctl_conntrack_entries 6\n") != std::string::npos);
    CHECK(text.find("natctl_revision 8\n") != std::string::npos);

    // no conntrack module: the two gauges are left out, the rest stands
    std::filesystem::remove(netfilter.path() / "nf_conntrack_count");
    std::filesystem::remove(netfilter.path() / "nf_conntrack_max");
    text = registry.render();
    CHECK(text.find("natctl_conntrack_") == std::string::npos);
}

TEST_CASE("metrics: --metrics addresses", "[metrics]") {
    auto v4 = daemon::parse_listen_address("127.0.0.1:9469");
    REQUIRE(v4.has_value());
    CHECK(v4->address().to_string() == "127.0.0.1");
    CHECK(v4->port() == 9469);
    auto v6 = daemon::parse_listen_address("[::1]:80");
    REQUIRE(v6.has_value());
    CHECK(v6->address().to_string() == "::1");
    CHECK(v6->port() == 80);
    CHECK(daemon::parse_listen_address("127.0.0.1:0").has_value());
    for (const char* bad :
         {"", "9469", ":9469", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:http", "localhost:9469",
          "::1:9469", "[::1:9469", "300.0.0.1:9469", "127.0.0.1:-1", "[127.0.0.1]:80"}) {
        INFO(bad);
        CHECK_FALSE(daemon::parse_listen_address(bad).has_value());
    }
}

TEST_CASE("metrics: the data plane reports applies and reconciles, not plans", "[metrics]") {
    std::ifstream file(std::string(NATCTL_SOURCE_DIR) + "/examples/quickstart.json");
    std::stringstream json;
    json << file.rdbuf();
    auto model = model::load_model(json.str());
    REQUIRE(model.has_value());

    netlink::NftFake nft;
    netlink::RouteFake routes({"veth-vpc", "veth-wan"});
    daemon::ReconcilerDataPlane plane(nft, routes, nullptr, {std::nullopt, "not probed"});
    int ok = 0;
    int failed = 0;
    plane.set_apply_observer([&](bool success, std::chrono::duration<double> took) {
        CHECK(took.count() >= 0);
        ++(success ? ok : failed);
    });
    REQUIRE(plane.plan(*model).has_value());
    CHECK(ok + failed == 0);
    REQUIRE(plane.reconcile(*model, daemon::ReconcileCause::Startup).has_value());
    REQUIRE(plane.apply(*model).has_value());
    CHECK(ok == 2);
    CHECK(failed == 0);
}
