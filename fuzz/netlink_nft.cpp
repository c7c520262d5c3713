// libFuzzer target: the nftables dump parsers natctld runs on every drift check and start
// (netlink/nft_socket.cpp dump → libnftnl's *_nlmsg_parse → netlink/nft_readback.cpp): set
// definitions, element lists (decoded against the last set definition, as a dump decodes a
// set's elements against that set), chains and rules. The message type's low byte picks the
// parser, as in a dump answer. Messages keep to the attribute widths the kernel writes
// (nft_kernel_widths.hpp says why: libnftnl exits on any other width).
//
// Oracle: decoded elements of a set are sorted (decode_elements promises it).
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>

#include <sanitizer/lsan_interface.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "fuzz/check.hpp"
#include "fuzz/netlink_messages.hpp"
#include "fuzz/nft_kernel_widths.hpp"
#include "netlink/nft_encode.hpp"
#include "netlink/nft_readback.hpp"

namespace netlink = natctl::netlink;

namespace {

// Runs one of libnftnl's message parsers with LeakSanitizer blind to what the parser itself
// allocates. libnftnl 1.2.4 loses an expression's allocations when its parse fails part way
// (nftnl_expr_parse frees a failed expression with xfree, not ops->free: a dynset whose
// nested expression it cannot read leaks the set name it had strdup'ed), which input the
// kernel may send can trigger and natctl cannot free. A suppression file cannot single these
// out (libnftnl has no frame pointers, so the leak's stack ends inside it). The objects the
// parsers fill are allocated here, outside, and natctl's decoders run outside too: a leak
// of either is still reported.
template <typename Parse>
int parse_without_leak_checks(Parse&& parse) {
    __lsan_disable();
    const int result = parse();
    __lsan_enable();
    return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const natctl::fuzz::Datagram datagram(data, size);
    std::optional<natctl::kernel::Set> schema;
    netlink::NftnlSet holder(nftnl_set_alloc());
    bool has_elements = false;
    datagram.for_each_message([&](const nlmsghdr* header) {
        if (!natctl::fuzz::has_kernel_attribute_widths(header)) return;
        switch (header->nlmsg_type & 0xff) {
            case NFT_MSG_NEWSET: {
                netlink::NftnlSet parsed(nftnl_set_alloc());
                if (parse_without_leak_checks(
                        [&] { return nftnl_set_nlmsg_parse(header, parsed.get()); }) < 0)
                    return;
                if (auto decoded = netlink::decode_set(parsed.get())) schema = std::move(*decoded);
                return;
            }
            case NFT_MSG_NEWSETELEM:
                if (parse_without_leak_checks(
                        [&] { return nftnl_set_elems_nlmsg_parse(header, holder.get()); }) >= 0)
                    has_elements = true;
                return;
            case NFT_MSG_NEWCHAIN: {
                netlink::NftnlChain parsed(nftnl_chain_alloc());
                if (parse_without_leak_checks(
                        [&] { return nftnl_chain_nlmsg_parse(header, parsed.get()); }) >= 0)
                    (void)netlink::decode_chain(parsed.get());
                return;
            }
            case NFT_MSG_NEWRULE: {
                netlink::NftnlRule parsed(nftnl_rule_alloc());
                if (parse_without_leak_checks(
                        [&] { return nftnl_rule_nlmsg_parse(header, parsed.get()); }) >= 0)
                    (void)netlink::decode_rule(parsed.get());
                return;
            }
            default:
                return;
        }
    });
    if (schema && has_elements) {
        if (auto elements = netlink::decode_elements(*schema, holder.get()))
            natctl::fuzz::check(std::ranges::is_sorted(*elements), "decoded elements unsorted");
    }
    return 0;
}
