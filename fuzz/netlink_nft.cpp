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
                if (nftnl_set_nlmsg_parse(header, parsed.get()) < 0) return;
                if (auto decoded = netlink::decode_set(parsed.get())) schema = std::move(*decoded);
                return;
            }
            case NFT_MSG_NEWSETELEM:
                if (nftnl_set_elems_nlmsg_parse(header, holder.get()) >= 0) has_elements = true;
                return;
            case NFT_MSG_NEWCHAIN: {
                netlink::NftnlChain parsed(nftnl_chain_alloc());
                if (nftnl_chain_nlmsg_parse(header, parsed.get()) >= 0)
                    (void)netlink::decode_chain(parsed.get());
                return;
            }
            case NFT_MSG_NEWRULE: {
                netlink::NftnlRule parsed(nftnl_rule_alloc());
                if (nftnl_rule_nlmsg_parse(header, parsed.get()) >= 0)
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
