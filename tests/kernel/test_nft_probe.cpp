// The kernel feature probe answers what `nft -c` answers and leaves nothing behind.
#include <catch2/catch.hpp>

#include "netlink/nft_probe.hpp"
#include "tests/support/netns_fixture.hpp"

using natctl::testing::TestNetns;

TEST_CASE("flowtable probe agrees with nft -c and changes nothing", "[kernel][probe]") {
    std::string error;
    auto netns = TestNetns::create(&error);
    REQUIRE(netns);

    natctl::netlink::KernelFeatures features;
    {
        auto scope = netns->enter();
        features = natctl::netlink::probe_kernel_features();
    }
    auto check = netns->run(
        "nft -c \"add table ip t; add flowtable ip t f { hook ingress priority 0; devices = { lo "
        "}; }\"");
    CHECK(features.flowtable == (check.exit_code == 0));
    CHECK_FALSE(features.flowtable_message.empty());
    CHECK(features.flowtable_message.find("not probed") == std::string::npos);

    auto ruleset = netns->run("nft list ruleset");
    CHECK(ruleset.exit_code == 0);
    CHECK(ruleset.output.empty());
}
