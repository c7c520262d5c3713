// The nftables backend against the real kernel, each test in its own network namespace.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "netlink/nft_encode.hpp"
#include "netlink/nft_readback.hpp"
#include "netlink/nft_socket.hpp"
#include "tests/support/netns_fixture.hpp"
#include "tests/support/nft_layout_sample.hpp"

namespace {

using natctl::netlink::NftError;
using natctl::netlink::NftSocket;
using natctl::netlink::NftTransaction;
using natctl::testing::TestNetns;
namespace kernel = natctl::kernel;

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TestNetns make_netns() {
    auto created = TestNetns::create();
    if (!created) FAIL("cannot create a network namespace");
    return std::move(*created);
}

std::unique_ptr<NftSocket> open_socket(const TestNetns& netns) {
    auto scope = netns.enter();
    auto opened = NftSocket::open();
    if (!opened) FAIL(opened.error().message);
    return std::move(*opened);
}

struct Fixture {
    TestNetns netns = make_netns();
    std::unique_ptr<NftSocket> socket = open_socket(netns);

    std::string list_table() const {
        auto listed = netns.run("nft list table ip natctl");
        REQUIRE(listed.exit_code == 0);
        return listed.output;
    }
    void apply_ok(const NftTransaction& transaction) {
        auto applied = socket->apply(transaction);
        INFO((applied ? std::string() : applied.error().message));
        REQUIRE(applied);
    }
};

kernel::Set dnat_port_map(std::size_t count) {
    kernel::Set set;
    set.name = "dnat_ports";
    set.key = {kernel::FieldType::Ipv4, kernel::FieldType::InetProto,
               kernel::FieldType::InetService};
    set.data = {kernel::FieldType::Ipv4, kernel::FieldType::InetService};
    for (std::size_t i = 0; i < count; ++i) {
        auto eip =
            natctl::testing::sample::ip(203, 0, 113, static_cast<std::uint32_t>(1 + i / 60000));
        auto port = static_cast<std::uint32_t>(1024 + i % 60000);
        set.elements.push_back(kernel::Element{
            {eip, 6u, port}, {}, {natctl::testing::sample::ip(10, 0, 1, 10), port}, {}, {}});
    }
    std::sort(set.elements.begin(), set.elements.end());
    return set;
}

}  // namespace

TEST_CASE("the layout sample applies and lists exactly as nft -f of its text", "[kernel][nft]") {
    Fixture fixture;
    auto table = natctl::testing::layout_sample_table();
    fixture.apply_ok(NftTransaction().create_table(table));
    CHECK(fixture.list_table() ==
          read_file(NATCTL_SOURCE_DIR "/docs/reference/layout-sample.list"));

    SECTION("reading it back gives the sets, chains and rule identities that were applied") {
        auto observed = fixture.socket->dump();
        REQUIRE(observed);
        REQUIRE(observed->exists);
        REQUIRE(observed->sets.size() == table.sets.size());
        for (std::size_t i = 0; i < table.sets.size(); ++i) {
            auto expected = table.sets[i];
            for (auto& element : expected.elements)
                element = natctl::netlink::normalize_element(expected, element);
            std::sort(expected.elements.begin(), expected.elements.end());
            CHECK(observed->sets[i].set == expected);
        }
        REQUIRE(observed->chains.size() == table.chains.size());
        for (std::size_t i = 0; i < table.chains.size(); ++i) {
            const auto& chain = observed->chains[i];
            CHECK(chain.name == table.chains[i].name);
            CHECK(chain.base == table.chains[i].base);
            REQUIRE(chain.rules.size() == table.chains[i].rules.size());
            for (std::size_t r = 0; r < chain.rules.size(); ++r) {
                CHECK(chain.rules[r].digest ==
                      natctl::netlink::rule_identity_digest(table.chains[i].rules[r].text));
                CHECK(chain.rules[r].handle != 0);
            }
        }
    }
}

namespace {

kernel::Table sample_with_port_map(std::size_t count) {
    auto table = natctl::testing::layout_sample_table();
    for (auto& set : table.sets)
        if (set.name == "dnat_ports") set = dnat_port_map(count);
    return table;
}

kernel::Set only(const kernel::Set& set, std::vector<kernel::Element> elements) {
    auto copy = set;
    copy.elements = std::move(elements);
    return copy;
}

const kernel::ObservedSet& observed_set(const kernel::ObservedTable& table,
                                        const std::string& name) {
    const auto* found = table.find_set(name);
    REQUIRE(found);
    return *found;
}

}  // namespace

TEST_CASE("one element added to or removed from a 10k map changes only that element",
          "[kernel][nft]") {
    Fixture fixture;
    auto table = sample_with_port_map(10000);
    fixture.apply_ok(NftTransaction().create_table(table));
    auto before = fixture.socket->dump();
    REQUIRE(before);
    REQUIRE(observed_set(*before, "dnat_ports").set.elements.size() == 10000);
    const auto& schema = table.sets[6];
    REQUIRE(schema.name == "dnat_ports");

    kernel::Element added{{natctl::testing::sample::ip(203, 0, 113, 99), 17u, 53u},
                          {},
                          {natctl::testing::sample::ip(10, 0, 2, 2), 5353u},
                          {},
                          {}};
    fixture.apply_ok(NftTransaction().add_elements(only(schema, {added})));
    auto after_add = fixture.socket->dump();
    REQUIRE(after_add);
    auto expected = *before;
    for (auto& set : expected.sets)
        if (set.set.name == "dnat_ports") {
            set.set.elements.push_back(added);
            std::sort(set.set.elements.begin(), set.set.elements.end());
        }
    CHECK(*after_add == expected);
    auto listed = fixture.netns.run("nft list map ip natctl dnat_ports");
    CHECK(listed.output.find("203.0.113.99 . udp . 53 : 10.0.2.2 . 5353") != std::string::npos);

    auto removed = schema.elements[5000];
    fixture.apply_ok(NftTransaction()
                         .delete_elements(only(schema, {added}))
                         .delete_elements(only(schema, {removed})));
    auto after_delete = fixture.socket->dump();
    REQUIRE(after_delete);
    expected = *before;
    for (auto& set : expected.sets)
        if (set.set.name == "dnat_ports")
            set.set.elements.erase(
                std::find(set.set.elements.begin(), set.set.elements.end(), removed));
    CHECK(*after_delete == expected);
}

TEST_CASE("a failing transaction changes nothing and names the offending element",
          "[kernel][nft]") {
    Fixture fixture;
    auto table = natctl::testing::layout_sample_table();
    fixture.apply_ok(NftTransaction().create_table(table));
    auto listed_before = fixture.list_table();
    const auto& snat_sources = table.sets[9];
    REQUIRE(snat_sources.name == "snat_sources");
    using natctl::testing::sample::ip;
    auto goto_element = [&](std::uint32_t realm, std::uint32_t second_octet, std::string chain) {
        return kernel::Element{{realm, ip(10, second_octet, 0, 0)},
                               {realm, ip(10, second_octet, 255, 255)},
                               {},
                               {},
                               kernel::Verdict{kernel::Verdict::Kind::Goto, std::move(chain)}};
    };
    NftTransaction transaction;
    transaction
        .add_elements(only(table.sets[2], {natctl::testing::sample::key({ip(203, 0, 113, 77)})}))
        .add_chain(kernel::Chain{"extra", std::nullopt, {}, {}})
        .add_elements(only(snat_sources,
                           {goto_element(8, 8, "masq/ngw-2"), goto_element(9, 9, "no-such-chain"),
                            goto_element(10, 10, "masq/ngw-2")}));
    auto applied = fixture.socket->apply(transaction);
    REQUIRE_FALSE(applied);
    CHECK(applied.error().kind == NftError::Kind::Kernel);
    CHECK(applied.error().error_number == ENOENT);
    INFO(applied.error().message);
    CHECK(applied.error().message.find("snat_sources") != std::string::npos);
    CHECK(applied.error().message.find("9 . 10.9.0.0") != std::string::npos);
    CHECK(applied.error().message.find("goto no-such-chain") != std::string::npos);
    CHECK(fixture.list_table() == listed_before);
    // As the layers above see it (issue 15): a refusal, with the errno's name.
    CHECK(applied.error().to_error().kind == natctl::util::ErrorKind::KernelRefused);
    CHECK(applied.error().message.find("ENOENT (No such file or directory)") != std::string::npos);

    SECTION("a rule in a missing chain names the rule's owner") {
        auto rule = table.chains[4].rules[3];
        rule.owner = "nat_gateways/ngw-9";
        auto failed = fixture.socket->apply(NftTransaction().add_rule("no-such-chain", rule));
        REQUIRE_FALSE(failed);
        CHECK(failed.error().message.find("nat_gateways/ngw-9") != std::string::npos);
        CHECK(fixture.list_table() == listed_before);
    }
    SECTION("creating an existing set fails") {
        auto failed = fixture.socket->apply(NftTransaction().add_set(table.sets[0]));
        REQUIRE_FALSE(failed);
        CHECK(failed.error().error_number == EEXIST);
        CHECK(failed.error().message.find("outside_ifaces") != std::string::npos);
    }
}

TEST_CASE("a foreign table survives every operation byte-identical", "[kernel][nft]") {
    Fixture fixture;
    auto written = fixture.netns.run(
        "printf \"%s\\n\" \"table inet admin {\" \"set allowed { type ipv4_addr; elements = { "
        "10.9.9.9 } }\" "
        "\"chain c { type filter hook input priority 0; policy accept; ip saddr @allowed counter "
        "accept; }\" "
        "\"}\" | nft -f -");
    REQUIRE(written.exit_code == 0);
    auto foreign = fixture.netns.run("nft list table inet admin");
    REQUIRE(foreign.exit_code == 0);
    REQUIRE(foreign.output.find("10.9.9.9") != std::string::npos);
    auto unchanged = [&] {
        CHECK(fixture.netns.run("nft list table inet admin").output == foreign.output);
    };

    auto table = sample_with_port_map(1000);
    fixture.apply_ok(NftTransaction().create_table(table));
    unchanged();
    fixture.apply_ok(NftTransaction().add_elements(
        only(table.sets[2],
             {natctl::testing::sample::key({natctl::testing::sample::ip(203, 0, 113, 78)})})));
    unchanged();
    REQUIRE_FALSE(fixture.socket->apply(NftTransaction().delete_chain("no-such-chain")));
    unchanged();
    auto observed = fixture.socket->dump();
    REQUIRE(observed);
    CHECK(observed->find_set("allowed") == nullptr);
    CHECK(observed->find_chain("c") == nullptr);
    unchanged();
    fixture.apply_ok(NftTransaction().flush_chain("inbound").delete_table());
    unchanged();
    auto gone = fixture.socket->dump();
    REQUIRE(gone);
    CHECK_FALSE(gone->exists);
}

TEST_CASE("the table stays in the kernel after the socket closes", "[kernel][nft]") {
    Fixture fixture;
    fixture.apply_ok(NftTransaction().create_table(natctl::testing::layout_sample_table()));
    fixture.socket.reset();
    CHECK(fixture.list_table() ==
          read_file(NATCTL_SOURCE_DIR "/docs/reference/layout-sample.list"));
}
