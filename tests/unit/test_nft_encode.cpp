// nftables encoding against what nft 1.0.6 itself generates for the layout sample
// (docs/reference/layout-sample.netlink-debug, and set user data dumped from a table that
// `nft -f` created), plus encode → decode round trips.
#include <netinet/in.h>
// clang-format off: the kernel headers need netinet/in.h first
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
// clang-format on

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "netlink/nft_encode.hpp"
#include "netlink/nft_readback.hpp"
#include "tests/support/nft_element_oracle.hpp"
#include "tests/support/nft_layout_sample.hpp"

namespace {

using namespace natctl::netlink;
namespace kernel = natctl::kernel;
using kernel::FieldType;

std::string hex(const void* data, std::size_t length) {
    std::string text;
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    for (std::size_t i = 0; i < length; ++i)
        text += fmt::format("{:02x}", bytes[i]);
    return text;
}

std::string hex(const std::vector<std::uint8_t>& bytes) {
    return hex(bytes.data(), bytes.size());
}

const kernel::Set& sample_set(const kernel::Table& table, const std::string& name) {
    for (const auto& set : table.sets)
        if (set.name == name) return set;
    FAIL("no set " << name);
    return table.sets.front();
}

struct RawElement {
    std::string key;
    std::string key_end;
    std::uint32_t flags = 0;
    std::string data;
};

std::vector<RawElement> raw_elements(const EncodedElements& encoded) {
    std::vector<RawElement> raws;
    auto* iter = nftnl_set_elems_iter_create(encoded.holder.get());
    for (auto* e = nftnl_set_elems_iter_next(iter); e; e = nftnl_set_elems_iter_next(iter)) {
        RawElement raw;
        std::uint32_t length = 0;
        const auto* key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &length);
        raw.key = hex(key, length);
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_KEY_END)) {
            const auto* end = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY_END, &length);
            raw.key_end = hex(end, length);
        }
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
            raw.flags = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS);
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_DATA)) {
            const auto* data = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &length);
            raw.data = hex(data, length);
        }
        raws.push_back(raw);
    }
    nftnl_set_elems_iter_destroy(iter);
    return raws;
}

// The element messages of a list as libnftnl builds them from the oracle's objects
// (tests/support/nft_element_oracle.hpp).
struct MessageBytes {
    std::vector<char> bytes;
    std::vector<std::size_t> offsets;  // where each message starts
};

constexpr std::uint16_t kElementMessageFlags = NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;

MessageBytes libnftnl_messages(const kernel::Set& set, const SetIdentity& identity,
                               bool leading_zero) {
    MessageBytes out;
    auto encoded = encode_elements("natctl", set, identity, set.elements, leading_zero);
    REQUIRE(encoded);
    auto* iter = nftnl_set_elems_iter_create(encoded->holder.get());
    std::uint32_t seq = 100;
    int more = 1;
    std::size_t used = 0;
    while (more == 1) {
        out.bytes.resize(used + 128 * 1024);  // libnftnl may overshoot by one element
        out.offsets.push_back(used);
        auto* message = nftnl_nlmsg_build_hdr(out.bytes.data() + used, NFT_MSG_NEWSETELEM, 2,
                                              kElementMessageFlags, seq++);
        more = nftnl_set_elems_nlmsg_build_payload_iter(message, iter);
        used += NLMSG_ALIGN(message->nlmsg_len);
        // libmnl 1.0.4 leaves attribute padding as the buffer had it, and libnftnl writes
        // the element that no longer fits past the message before trimming it: clear that,
        // so that the padding of the next message is zero as in a fresh buffer.
        std::fill(out.bytes.begin() + static_cast<long>(used), out.bytes.end(), 0);
    }
    nftnl_set_elems_iter_destroy(iter);
    out.bytes.resize(used);
    return out;
}

struct VectorSink final : ElementMessageSink {
    MessageBytes out;
    std::size_t used = 0;
    std::uint32_t seq = 100;
    std::vector<std::pair<std::size_t, std::size_t>> ranges;  // first, count per message

    nlmsghdr* begin_message(std::size_t room) override {
        out.bytes.resize(used + room);
        // Garbage in the room: the encoder must not depend on what a reused buffer held.
        std::fill(out.bytes.begin() + static_cast<long>(used), out.bytes.end(), '\xa5');
        out.offsets.push_back(used);
        return nftnl_nlmsg_build_hdr(out.bytes.data() + used, NFT_MSG_NEWSETELEM, 2,
                                     kElementMessageFlags, seq++);
    }
    void end_message(nlmsghdr* message, std::size_t first, std::size_t count) override {
        used += NLMSG_ALIGN(message->nlmsg_len);
        out.bytes.resize(used);
        ranges.emplace_back(first, count);
    }
};

std::size_t first_difference(const std::vector<char>& a, const std::vector<char>& b) {
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i])
        ++i;
    return i;
}

// Sets large enough that their element lists are split over several messages.
kernel::Set large_dnat_ports(std::size_t count) {
    using natctl::testing::sample::ip;
    kernel::Set set;
    set.name = "dnat_ports";
    set.key = {FieldType::Ipv4, FieldType::InetProto, FieldType::InetService};
    set.data = {FieldType::Ipv4, FieldType::InetService};
    for (std::size_t i = 0; i < count; ++i) {
        auto n = static_cast<std::uint32_t>(i);
        set.elements.push_back({{ip(203, 0, 113, 1 + n / 50000), 6u, 1024 + n % 50000},
                                {},
                                {ip(10, 0, 0, 1) + n, 8080u},
                                {},
                                {}});
    }
    return set;
}

kernel::Set large_prefixes(std::size_t count) {
    using natctl::testing::sample::ip;
    kernel::Set set;
    set.name = "vpc_cidrs";
    set.key = {FieldType::Ipv4};
    set.interval = true;
    // /24s with a gap after each, in reverse order: the encoder sorts them.
    for (std::size_t i = count; i-- > 0;) {
        auto base = ip(10, 0, 0, 0) + static_cast<std::uint32_t>(i) * 512;
        set.elements.push_back(natctl::testing::sample::range({base}, {base + 255}));
    }
    return set;
}

kernel::Set large_verdict_map(std::size_t count) {
    using natctl::testing::sample::ip;
    kernel::Set set;
    set.name = "snat_sources";
    set.key = {FieldType::Realm, FieldType::Ipv4};
    set.data = {FieldType::Verdict};
    set.interval = true;
    for (std::size_t i = 0; i < count; ++i) {
        auto n = static_cast<std::uint32_t>(i);
        auto chain = i % 3 == 0 ? std::string()
                                : fmt::format("snat/ngw-{}/entry-with-a-longer-name-{}", i % 7, i);
        auto kind = i % 3 == 0 ? kernel::Verdict::Kind::Drop : kernel::Verdict::Kind::Goto;
        set.elements.push_back({{1 + n % 5, ip(10, 0, 0, 0) + n * 256},
                                {1 + n % 5, ip(10, 0, 0, 255) + n * 256},
                                {},
                                {},
                                kernel::Verdict{kind, chain}});
    }
    return set;
}

kernel::Set large_ifnames(std::size_t count) {
    kernel::Set set;
    set.name = "outside_ifaces";
    set.key = {FieldType::IfName};
    for (std::size_t i = 0; i < count; ++i)
        set.elements.push_back(natctl::testing::sample::key({fmt::format("eth{}", i)}));
    return set;
}

}  // namespace

TEST_CASE("concatenated type ids combine nft datatype ids 6 bits per field", "[nft][encode]") {
    std::vector<FieldType> dnat_key{FieldType::Ipv4, FieldType::InetProto, FieldType::InetService};
    std::vector<FieldType> dnat_data{FieldType::Ipv4, FieldType::InetService};
    CHECK(concat_type_id(dnat_key) == 0x730d);
    CHECK(concat_type_id(dnat_data) == 0x1cd);
    CHECK(concat_type_id(std::vector{FieldType::Realm, FieldType::Ipv4}) == 0x587);
    CHECK(concat_type_id(std::vector{FieldType::IfName}) == 41);
    CHECK(split_concat_type_id(0x730d).value() == dnat_key);
    CHECK(split_concat_type_id(0x587).value() == std::vector{FieldType::Realm, FieldType::Ipv4});
    CHECK_FALSE(split_concat_type_id(0x3f));
    CHECK(value_length(dnat_key) == 12);
    CHECK(value_length(dnat_data) == 8);
    CHECK(value_length(std::vector{FieldType::InetProto}) == 1);
}

TEST_CASE("values are laid out as nft lays them out", "[nft][encode]") {
    using natctl::testing::sample::ip;
    std::vector<FieldType> dnat_key{FieldType::Ipv4, FieldType::InetProto, FieldType::InetService};
    std::vector<kernel::Scalar> key{ip(203, 0, 113, 10), 6u, 80u};
    // layout-sample.netlink-debug prints 32-bit words: 0a7100cb 00000006 00005000
    CHECK(hex(encode_value(dnat_key, key, false).value()) == "cb00710a0600000000500000");
    std::vector<FieldType> realm_ip{FieldType::Realm, FieldType::Ipv4};
    std::vector<kernel::Scalar> realm_key{5u, ip(10, 0, 1, 0)};
    CHECK(hex(encode_value(realm_ip, realm_key, true).value()) == "000000050a000100");
    CHECK(hex(encode_value(std::vector{FieldType::Realm}, std::vector<kernel::Scalar>{5u}, false)
                  .value()) == "05000000");
    CHECK(hex(encode_value(std::vector{FieldType::IfName},
                           std::vector<kernel::Scalar>{std::string("veth-wan")}, false)
                  .value()) == "766574682d77616e0000000000000000");
    CHECK_FALSE(encode_value(std::vector{FieldType::InetService},
                             std::vector<kernel::Scalar>{70000u}, false));
    CHECK_FALSE(encode_value(dnat_key, std::vector<kernel::Scalar>{1u}, false));
    auto decoded = decode_value(dnat_key, encode_value(dnat_key, key, false).value(), false);
    CHECK(decoded.value() == key);
    CHECK(decode_value(realm_ip, encode_value(realm_ip, realm_key, true).value(), true).value() ==
          realm_key);
}

TEST_CASE("set user data is byte-identical to what nft 1.0.6 writes", "[nft][encode]") {
    auto table = natctl::testing::layout_sample_table();
    // Read from the kernel after `nft -f docs/reference/layout-sample.nft`.
    std::map<std::string, std::string> expected{
        {"outside_ifaces", "000401000000"},
        {"vpc_cidrs", "000402000000"},
        {"dnat_open", "000402000000"},
        {"echo_silent", "000402000000"},
        {"outside_realms", "000401000000"},
        {"dnat_ports",
         "000400000000010400000000030800040d0000000100040800040d0000000100060400000000"},
        {"dnat_ip", "000402000000010402000000060400000000"},
        {"snat_sources", "000400000000010400000000030800040d0000000100060400000000"},
        {"return_marks", "000402000000010401000000060400000000"},
    };
    for (const auto& [name, bytes] : expected) {
        INFO(name);
        CHECK(hex(set_userdata(sample_set(table, name), false)) == bytes);
    }
    // Anonymous maps of the SNAT chains: jhash → address . port range, jhash → address.
    CHECK(hex(set_userdata(natctl::testing::sample::eip_port_map(), true)) ==
          "000401000000010400000000060401000000");
    CHECK(hex(set_userdata(natctl::testing::sample::eip_map(), true)) ==
          "000401000000010402000000060400000000");
    auto commented = sample_set(table, "echo_silent");
    commented.comment = "hello";
    CHECK(hex(set_userdata(commented, false)) == "000402000000070668656c6c6f00");
}

TEST_CASE("set definitions carry nft's flags, lengths and concat description", "[nft][encode]") {
    auto table = natctl::testing::layout_sample_table();
    auto snat_sources =
        encode_set("natctl", sample_set(table, "snat_sources"), {"snat_sources", 7, false});
    REQUIRE(snat_sources);
    auto* s = snat_sources->get();
    CHECK(nftnl_set_get_u32(s, NFTNL_SET_FLAGS) == 0x8c);
    CHECK(nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN) == 8);
    CHECK(nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE) == 0xffffff00);
    std::uint32_t length = 0;
    const auto* concat = nftnl_set_get_data(s, NFTNL_SET_DESC_CONCAT, &length);
    CHECK(hex(concat, length) == "0404");

    auto anonymous =
        encode_set("natctl", natctl::testing::sample::eip_port_map(), {"__map%d", 9, true});
    REQUIRE(anonymous);
    CHECK(nftnl_set_get_u32(anonymous->get(), NFTNL_SET_FLAGS) == 0xb);
    CHECK(nftnl_set_get_u32(anonymous->get(), NFTNL_SET_DATA_LEN) == 16);
    CHECK(nftnl_set_get_u32(anonymous->get(), NFTNL_SET_DESC_SIZE) == 2);
    CHECK(nftnl_set_get_u32(anonymous->get(), NFTNL_SET_ID) == 9);
}

TEST_CASE("prefix interval sets become start and end elements as nft sends them", "[nft][encode]") {
    auto table = natctl::testing::layout_sample_table();
    auto igw =
        encode_elements("natctl", sample_set(table, "igw_covered"), {"igw_covered", 0, false},
                        sample_set(table, "igw_covered").elements, true);
    REQUIRE(igw);
    auto raws = raw_elements(*igw);
    // 00000000 : 1, 0001000a : 0, 0002000a : 1, 0002000a : 0, 0003000a : 1
    REQUIRE(raws.size() == 5);
    CHECK((raws[0].key == "00000000" && raws[0].flags == 1));
    CHECK((raws[1].key == "0a000100" && raws[1].flags == 0));
    CHECK((raws[2].key == "0a000200" && raws[2].flags == 1));
    CHECK((raws[3].key == "0a000200" && raws[3].flags == 0));
    CHECK((raws[4].key == "0a000300" && raws[4].flags == 1));
    CHECK(igw->source_index == std::vector<long>{-1, 0, 0, 1, 1});

    SECTION("incremental additions have no leading zero element") {
        auto added =
            encode_elements("natctl", sample_set(table, "igw_covered"), {"igw_covered", 0, false},
                            sample_set(table, "igw_covered").elements, false);
        REQUIRE(added);
        CHECK(raw_elements(*added).size() == 4);
    }
    SECTION("a range reaching the top of the address space has no end element") {
        using natctl::testing::sample::ip;
        auto top = sample_set(table, "vpc_cidrs");
        top.elements = {natctl::testing::sample::range({ip(0, 0, 0, 0)}, {ip(255, 255, 255, 255)})};
        auto all = encode_elements("natctl", top, {"vpc_cidrs", 0, false}, top.elements, true);
        REQUIRE(all);
        auto all_raws = raw_elements(*all);
        REQUIRE(all_raws.size() == 1);
        CHECK(all_raws[0].key == "00000000");
    }
    SECTION("concatenated ranges carry key and key end; NAT ranges 16 bytes of data") {
        const auto& snat_sources = sample_set(table, "snat_sources");
        auto encoded = encode_elements("natctl", snat_sources, {"snat_sources", 0, false},
                                       snat_sources.elements, true);
        REQUIRE(encoded);
        auto concat = raw_elements(*encoded);
        REQUIRE(concat.size() == 2);
        CHECK(concat[0].key == "000000050a000100");
        CHECK(concat[0].key_end == "000000050a0001ff");
        auto map = natctl::testing::sample::eip_port_map();
        auto ranges = encode_elements("natctl", map, {"__map%d", 3, true}, map.elements, true);
        REQUIRE(ranges);
        // 0a7100cb 00000104 0a7100cb 0000ffff
        CHECK(raw_elements(*ranges)[0].data == "cb00710a04010000cb00710affff0000");
    }
}

TEST_CASE("every sample set survives encode then decode", "[nft][encode][readback]") {
    auto table = natctl::testing::layout_sample_table();
    auto sets = table.sets;
    sets.push_back(natctl::testing::sample::eip_port_map());
    sets.back().name = "ranges";
    for (const auto& set : sets) {
        INFO(set.name);
        SetIdentity identity{set.name, 1, false};
        auto definition = encode_set("natctl", set, identity);
        REQUIRE(definition);
        auto decoded = decode_set(definition->get());
        REQUIRE(decoded);
        auto encoded = encode_elements("natctl", set, identity, set.elements, true);
        REQUIRE(encoded);
        auto elements = decode_elements(*decoded, encoded->holder.get());
        REQUIRE(elements);
        decoded->elements = std::move(*elements);
        auto expected = set;
        for (auto& element : expected.elements)
            element = normalize_element(expected, element);
        std::sort(expected.elements.begin(), expected.elements.end());
        CHECK(*decoded == expected);
    }
}

TEST_CASE("rules encode to exactly the expressions nft generates", "[nft][encode]") {
    std::ifstream debug(NATCTL_SOURCE_DIR "/docs/reference/layout-sample.netlink-debug");
    REQUIRE(debug);
    // Rule blocks: a line "ip natctl <chain>" followed by "  [ ... ]" expression lines.
    std::vector<std::string> expected_rules;
    std::string line;
    bool in_rule = false;
    while (std::getline(debug, line)) {
        if (line.rfind("ip natctl ", 0) == 0) {
            expected_rules.emplace_back(line + "\n");
            in_rule = true;
        } else if (in_rule && line.rfind("  [", 0) == 0) {
            expected_rules.back() += line + "\n";
        } else {
            in_rule = false;
        }
    }
    auto table = natctl::testing::layout_sample_table();
    std::size_t index = 0;
    for (const auto& chain : table.chains)
        for (const auto& rule : chain.rules) {
            INFO(rule.text);
            REQUIRE(index < expected_rules.size());
            std::vector<SetIdentity> anonymous;
            for (const auto& set : rule.anonymous_sets)
                anonymous.push_back({set.is_map() ? "__map%d" : "__set%d", 1, true});
            auto encoded = encode_rule("natctl", chain.name, rule, anonymous);
            REQUIRE(encoded);
            std::vector<char> text(8192);
            nftnl_rule_snprintf(text.data(), text.size(), encoded->get(), NFTNL_OUTPUT_DEFAULT, 0);
            // libnftnl prints the family name, nft's debug output the table's family; both "ip".
            std::string printed(text.data());
            auto header_end = printed.find('\n');
            std::string body = printed.substr(header_end + 1);
            // nft's debug output was printed before the rule got natctl's user data.
            if (auto udata = body.find("  userdata = "); udata != std::string::npos)
                body.erase(udata);
            else
                FAIL("the rule carries no user data");
            const auto& expected = expected_rules[index];
            CHECK(body == expected.substr(expected.find('\n') + 1));
            ++index;
        }
    CHECK(index == expected_rules.size());
}

TEST_CASE("a rule's user data holds its identity digest and comment", "[nft][encode][readback]") {
    kernel::Rule rule;
    rule.text = "counter drop";
    rule.comment = "vpc-1";
    rule.exprs = {kernel::Counter{}};
    auto encoded = encode_rule("natctl", "inbound", rule, {});
    REQUIRE(encoded);
    auto observed = decode_rule(encoded->get());
    CHECK(observed.digest == rule_identity_digest("counter drop"));
    CHECK(observed.digest.size() == 16);
    CHECK(observed.comment == "vpc-1");
    CHECK(rule_identity_digest("counter drop") != rule_identity_digest("counter accept"));
    CHECK(fnv1a64("") == 0xcbf29ce484222325ull);
    CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
}

TEST_CASE("elements are described for error messages in nft syntax", "[nft][encode]") {
    auto table = natctl::testing::layout_sample_table();
    const auto& dnat_ports = sample_set(table, "dnat_ports");
    CHECK(describe_element(dnat_ports, dnat_ports.elements[0]) ==
          "203.0.113.10 . tcp . 80 : 10.0.1.10 . 8080");
    const auto& snat_sources = sample_set(table, "snat_sources");
    CHECK(describe_element(snat_sources, snat_sources.elements[0]) ==
          "5 . 10.0.1.0-5 . 10.0.1.255 : goto snat/ngw-1/snat-vsw-a");
}

TEST_CASE("element messages written into the batch are byte-identical to libnftnl's",
          "[nft][encode]") {
    auto table = natctl::testing::layout_sample_table();
    std::vector<std::pair<kernel::Set, SetIdentity>> cases;
    for (const auto& set : table.sets)
        cases.emplace_back(set, SetIdentity{set.name, 3, false});
    // Anonymous maps (set id attribute): NAT address . port range data, address data.
    cases.emplace_back(natctl::testing::sample::eip_port_map(), SetIdentity{"__map%d", 7, true});
    cases.emplace_back(natctl::testing::sample::eip_map(), SetIdentity{"__map%d", 8, true});
    cases.emplace_back(natctl::testing::sample::tcp_udp(), SetIdentity{"__set%d", 9, true});
    // Split over several messages.
    cases.emplace_back(large_dnat_ports(5000), SetIdentity{"dnat_ports", 1, false});
    cases.emplace_back(large_prefixes(3000), SetIdentity{"vpc_cidrs", 1, false});
    cases.emplace_back(large_verdict_map(4000), SetIdentity{"snat_sources", 1, false});
    cases.emplace_back(large_ifnames(3000), SetIdentity{"outside_ifaces", 1, false});
    // A prefix set whose first range starts at zero: no leading zero end element.
    {
        using natctl::testing::sample::ip;
        auto from_zero =
            natctl::testing::sample::make_set("vpc_cidrs", {FieldType::Ipv4}, {}, true, {});
        from_zero.elements = {
            natctl::testing::sample::range({ip(0, 0, 0, 0)}, {ip(9, 255, 255, 255)}),
            natctl::testing::sample::range({ip(11, 0, 0, 0)}, {ip(255, 255, 255, 255)})};
        cases.emplace_back(from_zero, SetIdentity{"vpc_cidrs", 1, false});
    }
    bool saw_split = false;
    bool saw_leading_zero = false;
    for (const auto& [set, identity] : cases) {
        if (set.elements.empty()) {
            // NftSocket sends no element message for an empty list; neither does the encoder.
            VectorSink sink;
            REQUIRE(encode_element_messages("natctl", set, identity, set.elements, true, sink));
            CHECK(sink.out.offsets.empty());
            continue;
        }
        for (bool leading_zero : {true, false}) {
            INFO(set.name << " (" << set.elements.size() << " elements), leading zero end "
                          << leading_zero);
            auto expected = libnftnl_messages(set, identity, leading_zero);
            VectorSink sink;
            auto sources =
                encode_element_messages("natctl", set, identity, set.elements, leading_zero, sink);
            REQUIRE(sources);
            INFO("first difference at byte " << first_difference(expected.bytes, sink.out.bytes)
                                             << " of " << expected.bytes.size());
            CHECK(sink.out.offsets == expected.offsets);
            CHECK(sink.out.bytes == expected.bytes);
            CHECK(sink.out.bytes.size() <=
                  element_messages_size_bound(set, set.elements, leading_zero));
            if (expected.offsets.size() > 1) saw_split = true;

            // The messages hold consecutive kernel elements, and each kernel element maps
            // back to the kernel::Element encode_elements says it came from.
            auto reference = encode_elements("natctl", set, identity, set.elements, leading_zero);
            REQUIRE(reference);
            std::size_t next = 0;
            for (const auto& [first, count] : sink.ranges) {
                CHECK(first == next);
                CHECK(count > 0);
                next = first + count;
            }
            CHECK(next == reference->source_index.size());
            REQUIRE(sources->kernel_elements == reference->source_index.size());
            for (std::size_t i = 0; i < reference->source_index.size(); ++i)
                REQUIRE(sources->source_of(i) == reference->source_index[i]);
            CHECK_FALSE(sources->source_of(reference->source_index.size()));
            if (!reference->source_index.empty() && reference->source_index.front() == -1)
                saw_leading_zero = true;
        }
    }
    CHECK(saw_split);
    CHECK(saw_leading_zero);
}

TEST_CASE("element messages report encoding errors with the element", "[nft][encode]") {
    auto set = large_dnat_ports(3);
    set.elements[1].data = {natctl::testing::sample::ip(10, 0, 0, 1), 70000u};
    VectorSink sink;
    auto sources =
        encode_element_messages("natctl", set, {"dnat_ports", 1, false}, set.elements, false, sink);
    REQUIRE_FALSE(sources);
    CHECK(sources.error().find("203.0.113.1 . tcp . 1025") != std::string::npos);
    CHECK(sources.error().find("port > 65535") != std::string::npos);
}

// Found by fuzz/netlink_nft: a chain or set message without a name made decode_* build a
// std::string from the null pointer libnftnl returns for a missing attribute (a crash in
// natctld's drift check, were the kernel ever to send one).
TEST_CASE("a chain or set message without a name is refused, not decoded", "[nft][readback]") {
    std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
    SECTION("chain") {
        auto chain = encode_chain_ref("natctl", "");
        nftnl_chain_unset(chain.get(), NFTNL_CHAIN_NAME);
        nftnl_chain_set_u64(chain.get(), NFTNL_CHAIN_HANDLE, 7);
        auto* message = nftnl_nlmsg_build_hdr(buffer.data(), NFT_MSG_NEWCHAIN, NFPROTO_IPV4, 0, 1);
        nftnl_chain_nlmsg_build_payload(message, chain.get());
        NftnlChain parsed(nftnl_chain_alloc());
        REQUIRE(nftnl_chain_nlmsg_parse(message, parsed.get()) >= 0);
        auto decoded = decode_chain(parsed.get());
        REQUIRE_FALSE(decoded);
        CHECK(decoded.error() == "a chain without a name");
    }
    SECTION("set") {
        NftnlSet set(nftnl_set_alloc());
        nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, "natctl");
        nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_TYPE, 7);
        nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_LEN, 4);
        auto* message = nftnl_nlmsg_build_hdr(buffer.data(), NFT_MSG_NEWSET, NFPROTO_IPV4, 0, 1);
        nftnl_set_nlmsg_build_payload(message, set.get());
        NftnlSet parsed(nftnl_set_alloc());
        REQUIRE(nftnl_set_nlmsg_parse(message, parsed.get()) >= 0);
        auto decoded = decode_set(parsed.get());
        REQUIRE_FALSE(decoded);
        CHECK(decoded.error() == "a set without a name");
    }
}
