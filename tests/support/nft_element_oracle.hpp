// The libnftnl oracle of netlink::encode_element_messages: the same element lists built as
// libnftnl objects (one nftnl_set_elem per kernel element, in an nftnl_set), from which
// libnftnl's own nftnl_set_elems_nlmsg_build_payload_iter writes the messages natctl sent
// before it encoded element lists straight into the batch. The unit tests compare the two
// byte for byte; the fuzz seeds are written from it.
#pragma once

#include <expected>
#include <span>
#include <string>
#include <vector>

#include "kernelstate/kernel_state.hpp"
#include "netlink/nft_encode.hpp"

namespace natctl::netlink {

struct EncodedElements {
    NftnlSet holder;  // an nftnl_set carrying table, set name / id and the elements
    // For each kernel element in holder (in order), the index of the kernel::Element it
    // came from, or -1 for the leading zero end element; to name an element in errors.
    std::vector<long> source_index;
};

// The arguments mean what they mean to encode_element_messages.
std::expected<EncodedElements, std::string> encode_elements(
    const std::string& table_name, const kernel::Set& set, const SetIdentity& identity,
    std::span<const kernel::Element> elements, bool with_leading_zero_end);

}  // namespace natctl::netlink
