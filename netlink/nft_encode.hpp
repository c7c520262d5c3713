// Pure encoding of natctl's nftables vocabulary (kernel_state.hpp) into libnftnl objects,
// byte for byte as nft 1.0.6 builds them, so that `nft list table ip natctl` prints what
// natctl rendered. No sockets here: everything is unit-testable without privileges.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernelstate/kernel_state.hpp"

struct nftnl_table;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;
struct nftnl_set_elem;
struct nftnl_expr;
struct nlmsghdr;

namespace natctl::netlink {

struct NftnlFree {
    void operator()(nftnl_table* table) const;
    void operator()(nftnl_chain* chain) const;
    void operator()(nftnl_rule* rule) const;
    void operator()(nftnl_set* set) const;
    void operator()(nftnl_set_elem* element) const;
    void operator()(nftnl_expr* expr) const;
};
using NftnlTable = std::unique_ptr<nftnl_table, NftnlFree>;
using NftnlChain = std::unique_ptr<nftnl_chain, NftnlFree>;
using NftnlRule = std::unique_ptr<nftnl_rule, NftnlFree>;
using NftnlSet = std::unique_ptr<nftnl_set, NftnlFree>;
using NftnlExpr = std::unique_ptr<nftnl_expr, NftnlFree>;

// ---- field layout ----------------------------------------------------------------------

std::uint32_t nft_type_id(kernel::FieldType type);   // nft's datatype id (src/datatype.h)
std::uint32_t field_length(kernel::FieldType type);  // natural length in bytes
std::uint32_t field_slot(kernel::FieldType type);    // length rounded up to 4 (concat slot)

// nft's type id of a (possibly concatenated) type: the ids shifted by 6 bits per field,
// first field most significant.
std::uint32_t concat_type_id(std::span<const kernel::FieldType> fields);
std::expected<std::vector<kernel::FieldType>, std::string> split_concat_type_id(std::uint32_t id);

// Length of a key/data value: a single field keeps its natural length, a concatenation
// takes one 4-byte-aligned slot per field.
std::uint32_t value_length(std::span<const kernel::FieldType> fields);

// The kernel's code of a verdict (NF_ACCEPT, NFT_JUMP, ...).
std::uint32_t verdict_code(kernel::Verdict::Kind kind);

// nft stores realms, marks and integers in network order inside the concatenated key of
// an interval set (so that ranges compare as big-endian byte strings).
bool integers_in_network_order(const kernel::Set& set);

std::expected<std::vector<std::uint8_t>, std::string> encode_value(
    std::span<const kernel::FieldType> fields, const kernel::FieldList& values,
    bool network_order_integers);
std::expected<std::vector<kernel::Scalar>, std::string> decode_value(
    std::span<const kernel::FieldType> fields, std::span<const std::uint8_t> bytes,
    bool network_order_integers);

// "203.0.113.10 . tcp . 80" style text of a key, for error messages.
std::string describe_value(std::span<const kernel::FieldType> fields,
                           const kernel::FieldList& values);
std::string describe_element(const kernel::Set& set, const kernel::Element& element);

// ---- identities -------------------------------------------------------------------------

std::uint64_t fnv1a64(std::string_view text);
// 16 lowercase hex digits of fnv1a64(rule text): the rule's identity in the kernel.
std::string rule_identity_digest(std::string_view rule_text);
// The private user-data TLV type holding the digest. nft ignores TLV types it does not
// know (verified on nft 1.0.6 by the kernel tests: `nft list` prints the rule unchanged).
inline constexpr std::uint8_t kRuleIdentityUdataType = 0x4e;

// ---- objects ----------------------------------------------------------------------------

NftnlTable encode_table(const std::string& table_name);
std::expected<NftnlChain, std::string> encode_chain(const std::string& table_name,
                                                    const kernel::Chain& chain);
NftnlChain encode_chain_ref(const std::string& table_name, const std::string& chain_name);

struct SetIdentity {
    std::string name;      // "__set%d" / "__map%d" for anonymous sets
    std::uint32_t id = 0;  // NFTNL_SET_ID, unique within one batch
    bool anonymous = false;
};

// The set's user data exactly as nft 1.0.6 writes it.
std::vector<std::uint8_t> set_userdata(const kernel::Set& set, bool anonymous);

// The set definition without elements.
std::expected<NftnlSet, std::string> encode_set(const std::string& table_name,
                                                const kernel::Set& set,
                                                const SetIdentity& identity);

// ---- element messages written straight into a batch buffer --------------------------------
//
// Elements to add to / delete from `set` (only its field types and flags are used; the
// elements come from `elements`). A non-concatenated interval set gets nft's start/end
// element pairs, in key order; with_leading_zero_end adds the 0.0.0.0 end element nft sends
// when a set is created whose first range does not start at zero.
//
// Byte for byte what libnftnl's nftnl_set_elems_nlmsg_build_payload_iter writes for the same
// elements (attribute order, the running NFTA_LIST_ELEM index, the split of a list before its
// NFTA_SET_ELEM_LIST_ELEMENTS attribute would exceed 65535 bytes; the unit tests compare the
// two, tests/support/nft_element_oracle.hpp), but encoded with libmnl directly into the
// caller's buffer: no per-element objects, no copies.

// Where the kernel elements of an element list came from, to name an element in errors.
struct ElementSources {
    // Kernel element i came from source_index[i] (-1: the leading zero end element of a
    // prefix interval set). Empty when kernel element i is kernel::Element i (every set but
    // the non-concatenated interval sets), so that the large maps need no index at all.
    std::vector<long> source_index;
    std::size_t kernel_elements = 0;

    // The kernel::Element behind kernel element `position`; nullopt when out of range.
    std::optional<long> source_of(std::size_t position) const;
};

// Receives the messages of an element list: asks for a new message and hears when it is done.
class ElementMessageSink {
  public:
    virtual ~ElementMessageSink() = default;
    // A message header (type, flags, sequence number, nfgenmsg) at the tail of the caller's
    // buffer, with at least `room` writable bytes from the header's start.
    virtual nlmsghdr* begin_message(std::size_t room) = 0;
    // The message is complete (nlmsg_len final) and holds kernel elements
    // [first, first + count) of the list.
    virtual void end_message(nlmsghdr* message, std::size_t first, std::size_t count) = 0;
};

// Room begin_message is asked for: enough for any element message.
inline constexpr std::size_t kElementMessageRoom = 64 * 1024 + 1024;

// An upper bound of the bytes encode_element_messages writes for these elements (headers
// included), to size a batch buffer once.
std::size_t element_messages_size_bound(const kernel::Set& set,
                                        std::span<const kernel::Element> elements,
                                        bool with_leading_zero_end);

// Writes the element list messages of `elements` (see above for the meaning of the
// arguments) through `sink`. On an encoding error, messages already begun are garbage
// and the batch must be dropped.
std::expected<ElementSources, std::string> encode_element_messages(
    const std::string& table_name, const kernel::Set& set, const SetIdentity& identity,
    std::span<const kernel::Element> elements, bool with_leading_zero_end,
    ElementMessageSink& sink);

// A rule appended to (or, with position, inserted after the rule with that handle in)
// `chain`. anonymous_sets: the identities of Rule::anonymous_sets in this batch.
std::expected<NftnlRule, std::string> encode_rule(const std::string& table_name,
                                                  const std::string& chain,
                                                  const kernel::Rule& rule,
                                                  std::span<const SetIdentity> anonymous_sets);

NftnlRule encode_rule_ref(const std::string& table_name, const std::string& chain,
                          std::uint64_t handle);

}  // namespace natctl::netlink
