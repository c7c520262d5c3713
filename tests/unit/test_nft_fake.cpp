// The in-memory nftables backend: atomic apply, the kernel's rejections, readback shape.
#include <catch2/catch.hpp>
#include <cerrno>

#include "netlink/nft_encode.hpp"
#include "netlink/nft_readback.hpp"
#include "tests/support/nft_fake.hpp"
#include "tests/support/nft_layout_sample.hpp"

namespace {

using namespace natctl::netlink;
namespace kernel = natctl::kernel;
using natctl::testing::sample::ip;

kernel::Set only(const kernel::Set& set, std::vector<kernel::Element> elements) {
    auto copy = set;
    copy.elements = std::move(elements);
    return copy;
}

}  // namespace

TEST_CASE("the fake applies the layout sample and reads it back like the kernel", "[nft][fake]") {
    NftFake fake;
    auto table = natctl::testing::layout_sample_table();
    REQUIRE(fake.apply(NftTransaction().create_table(table)));
    auto observed = fake.dump();
    REQUIRE(observed);
    CHECK(observed->exists);
    REQUIRE(observed->sets.size() == table.sets.size());
    for (std::size_t i = 0; i < table.sets.size(); ++i) {
        auto expected = table.sets[i];
        for (auto& element : expected.elements)
            element = normalize_element(expected, element);
        std::sort(expected.elements.begin(), expected.elements.end());
        CHECK(observed->sets[i].set == expected);
    }
    REQUIRE(observed->chains.size() == table.chains.size());
    CHECK(observed->chains[4].name == "inbound");
    REQUIRE(observed->chains[4].rules.size() == 4);
    CHECK(observed->chains[4].rules[3].digest == rule_identity_digest("counter drop"));
    CHECK(observed->chains[0].base == table.chains[0].base);
}

TEST_CASE("the fake fails atomically and rejects what the kernel rejects", "[nft][fake]") {
    NftFake fake;
    auto table = natctl::testing::layout_sample_table();
    REQUIRE(fake.apply(NftTransaction().create_table(table)));
    auto before = fake.dump().value();
    const auto& dnat_open = table.sets[2];

    SECTION("an injected failure leaves everything as it was") {
        fake.fail_next_apply_at(1, ENOMEM);
        auto result = fake.apply(
            NftTransaction()
                .add_elements(only(dnat_open, {natctl::testing::sample::key({ip(203, 0, 113, 1)})}))
                .delete_chain("masq/ngw-2"));
        REQUIRE_FALSE(result);
        CHECK(result.error().error_number == ENOMEM);
        CHECK(result.error().message.find("delete chain masq/ngw-2") != std::string::npos);
        CHECK(fake.dump().value() == before);
        // One-shot: the same transaction succeeds afterwards... except the chain is in use.
        auto retried = fake.apply(NftTransaction().add_elements(
            only(dnat_open, {natctl::testing::sample::key({ip(203, 0, 113, 1)})})));
        CHECK(retried);
    }
    SECTION("creating an existing set or chain fails with EEXIST") {
        auto set = fake.apply(NftTransaction().add_set(table.sets[0]));
        REQUIRE_FALSE(set);
        CHECK(set.error().error_number == EEXIST);
        auto chain = fake.apply(NftTransaction().add_chain(table.chains[0]));
        REQUIRE_FALSE(chain);
        CHECK(chain.error().error_number == EEXIST);
    }
    SECTION("a duplicate element fails with EEXIST and names it") {
        auto result =
            fake.apply(NftTransaction().add_elements(only(dnat_open, {dnat_open.elements[0]})));
        REQUIRE_FALSE(result);
        CHECK(result.error().error_number == EEXIST);
        CHECK(result.error().message.find("203.0.113.10") != std::string::npos);
    }
    SECTION("deleting a missing element fails with ENOENT; earlier ops are rolled back") {
        auto result =
            fake.apply(NftTransaction()
                           .delete_elements(only(dnat_open, {dnat_open.elements[0]}))
                           .delete_elements(only(
                               dnat_open, {natctl::testing::sample::key({ip(198, 51, 100, 1)})})));
        REQUIRE_FALSE(result);
        CHECK(result.error().error_number == ENOENT);
        CHECK(result.error().message.find("198.51.100.1") != std::string::npos);
        CHECK(fake.dump().value() == before);
    }
    SECTION("a verdict element to a missing chain fails with ENOENT") {
        const auto& snat_sources = table.sets[9];
        kernel::Element bad{{9u, ip(10, 9, 0, 0)},
                            {9u, ip(10, 9, 255, 255)},
                            {},
                            {},
                            kernel::Verdict{kernel::Verdict::Kind::Goto, "nowhere"}};
        auto result = fake.apply(NftTransaction().add_elements(only(snat_sources, {bad})));
        REQUIRE_FALSE(result);
        CHECK(result.error().error_number == ENOENT);
        CHECK(result.error().message.find("goto nowhere") != std::string::npos);
    }
    SECTION("a set or chain still referenced cannot be deleted") {
        auto set = fake.apply(NftTransaction().delete_set("dnat_ports"));
        REQUIRE_FALSE(set);
        CHECK(set.error().error_number == EBUSY);
        auto jumped_to = fake.apply(NftTransaction().delete_chain("inbound"));
        REQUIRE_FALSE(jumped_to);
        CHECK(jumped_to.error().error_number == EBUSY);
        auto in_vmap = fake.apply(NftTransaction().delete_chain("masq/ngw-2"));
        REQUIRE_FALSE(in_vmap);
        CHECK(in_vmap.error().error_number == EBUSY);
        CHECK(fake.apply(NftTransaction().flush_chain("forward").delete_chain("inbound")));
    }
    SECTION("rules: missing chain, delete by handle, insert after a handle") {
        auto rule = table.chains[4].rules[3];
        rule.owner = "vpcs/vpc-1";
        auto missing = fake.apply(NftTransaction().add_rule("nowhere", rule));
        REQUIRE_FALSE(missing);
        CHECK(missing.error().message.find("vpcs/vpc-1") != std::string::npos);

        auto inbound = before.find_chain("inbound");
        REQUIRE(inbound);
        auto first = inbound->rules[0].handle;
        REQUIRE(fake.apply(NftTransaction().add_rule("inbound", rule, first)));
        auto after = fake.dump().value();
        REQUIRE(after.find_chain("inbound")->rules.size() == 5);
        CHECK(after.find_chain("inbound")->rules[1].digest == rule_identity_digest(rule.text));
        REQUIRE(fake.apply(
            NftTransaction().delete_rule("inbound", after.find_chain("inbound")->rules[1].handle)));
        CHECK(fake.dump().value() == before);
        auto gone = fake.apply(NftTransaction().delete_rule("inbound", 999999, "vpcs/vpc-2"));
        REQUIRE_FALSE(gone);
        CHECK(gone.error().message.find("vpcs/vpc-2") != std::string::npos);
    }
    SECTION("a lost dump reports an unknown outcome once") {
        fake.fail_next_dump();
        auto lost = fake.dump();
        REQUIRE_FALSE(lost);
        CHECK(lost.error().kind == NftError::Kind::OutcomeUnknown);
        CHECK(fake.dump());
    }
}

TEST_CASE("the fake has no table until one is added", "[nft][fake]") {
    NftFake fake;
    auto empty = fake.dump();
    REQUIRE(empty);
    CHECK_FALSE(empty->exists);
    auto failed = fake.apply(NftTransaction().add_chain(kernel::Chain{"x", std::nullopt, {}, {}}));
    REQUIRE_FALSE(failed);
    CHECK(failed.error().error_number == ENOENT);
    REQUIRE(fake.apply(NftTransaction().add_table().add_table()));
    CHECK(fake.dump()->exists);
    REQUIRE(fake.apply(NftTransaction().delete_table()));
    CHECK_FALSE(fake.dump()->exists);
}
