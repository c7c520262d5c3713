// Pure decoding of libnftnl objects read back from the kernel into natctl's vocabulary
// (kernelstate/observed.hpp). The inverse of nft_encode: a set's field types come from its
// key/data type ids, element bytes are decoded with the same byte-order rules.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "kernelstate/observed.hpp"

struct nftnl_set;
struct nftnl_chain;
struct nftnl_rule;

namespace natctl::netlink {

// The set's definition (name, types, flags, comment); no elements.
std::expected<kernel::Set, std::string> decode_set(const nftnl_set* set);

// The elements carried by `holder`, decoded with `schema`'s field types and flags. Interval
// start/end element pairs become one Element with key_end; the result is sorted.
std::expected<std::vector<kernel::Element>, std::string> decode_elements(const kernel::Set& schema,
                                                                         const nftnl_set* holder);

// Refused: a chain without a name (the kernel always names one; the caller says where).
std::expected<kernel::ObservedChain, std::string> decode_chain(const nftnl_chain* chain);
kernel::ObservedRule decode_rule(const nftnl_rule* rule);

// What an element looks like after a round trip through the kernel: interval sets carry
// key_end also for single values. Lets desired and observed sets be compared.
kernel::Element normalize_element(const kernel::Set& schema, kernel::Element element);

}  // namespace natctl::netlink
