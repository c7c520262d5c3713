#include "tests/support/nft_element_oracle.hpp"

#include <netinet/in.h>
// clang-format off: the kernel headers need netinet/in.h first
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
// clang-format on

#include <libnftnl/set.h>

#include <algorithm>
#include <memory>

namespace natctl::netlink {

namespace {

using Bytes = std::vector<std::uint8_t>;
using Result = std::expected<void, std::string>;

// Adds one to a big-endian byte string; false when it wraps (the range reaches the top).
bool increment_big_endian(Bytes& bytes) {
    for (auto it = bytes.rbegin(); it != bytes.rend(); ++it)
        if (++*it != 0) return true;
    return false;
}

// The verdict or value data of a map element.
Result set_payload(nftnl_set_elem* element, const kernel::Set& set, const kernel::Element& source) {
    if (set.data.size() == 1 && set.data.front() == kernel::FieldType::Verdict) {
        if (!source.verdict)
            return std::unexpected(std::string("verdict map element without verdict"));
        nftnl_set_elem_set_u32(element, NFTNL_SET_ELEM_VERDICT, verdict_code(source.verdict->kind));
        if (!source.verdict->chain.empty())
            nftnl_set_elem_set_str(element, NFTNL_SET_ELEM_CHAIN, source.verdict->chain.c_str());
        return {};
    }
    if (!set.is_map()) return {};
    auto data = encode_value(set.data, source.data, false);
    if (!data) return std::unexpected("data: " + data.error());
    if (set.data_interval) {
        auto end =
            encode_value(set.data, source.data_end.empty() ? source.data : source.data_end, false);
        if (!end) return std::unexpected("data end: " + end.error());
        data->insert(data->end(), end->begin(), end->end());
    }
    nftnl_set_elem_set(element, NFTNL_SET_ELEM_DATA, data->data(),
                       static_cast<std::uint32_t>(data->size()));
    return {};
}

class ElementList {
  public:
    ElementList(EncodedElements& encoded, const kernel::Set& set) : encoded_(encoded), set_(set) {}

    Result add(const Bytes& key, const Bytes* key_end, std::uint32_t flags,
               const kernel::Element* payload, long source) {
        std::unique_ptr<nftnl_set_elem, NftnlFree> element(nftnl_set_elem_alloc());
        nftnl_set_elem_set(element.get(), NFTNL_SET_ELEM_KEY, key.data(),
                           static_cast<std::uint32_t>(key.size()));
        if (key_end)
            nftnl_set_elem_set(element.get(), NFTNL_SET_ELEM_KEY_END, key_end->data(),
                               static_cast<std::uint32_t>(key_end->size()));
        if (flags) nftnl_set_elem_set_u32(element.get(), NFTNL_SET_ELEM_FLAGS, flags);
        if (payload)
            if (auto result = set_payload(element.get(), set_, *payload); !result) return result;
        nftnl_set_elem_add(encoded_.holder.get(), element.release());
        encoded_.source_index.push_back(source);
        return {};
    }

  private:
    EncodedElements& encoded_;
    const kernel::Set& set_;
};

}  // namespace

std::expected<EncodedElements, std::string> encode_elements(
    const std::string& table_name, const kernel::Set& set, const SetIdentity& identity,
    std::span<const kernel::Element> elements, bool with_leading_zero_end) {
    EncodedElements encoded;
    encoded.holder.reset(nftnl_set_alloc());
    auto* holder = encoded.holder.get();
    nftnl_set_set_u32(holder, NFTNL_SET_FAMILY, NFPROTO_IPV4);
    nftnl_set_set_str(holder, NFTNL_SET_TABLE, table_name.c_str());
    nftnl_set_set_str(holder, NFTNL_SET_NAME, identity.name.c_str());
    if (identity.anonymous) nftnl_set_set_u32(holder, NFTNL_SET_ID, identity.id);
    ElementList list(encoded, set);

    const bool network_order = integers_in_network_order(set);
    struct Keyed {
        Bytes key;
        Bytes key_end;
        std::size_t index;
    };
    std::vector<Keyed> keyed;
    keyed.reserve(elements.size());
    for (std::size_t i = 0; i < elements.size(); ++i) {
        const auto& element = elements[i];
        auto key = encode_value(set.key, element.key, network_order);
        if (!key) return std::unexpected(describe_element(set, element) + ": " + key.error());
        Bytes key_end;
        if (set.interval) {
            auto end = encode_value(
                set.key, element.key_end.empty() ? element.key : element.key_end, network_order);
            if (!end) return std::unexpected(describe_element(set, element) + ": " + end.error());
            key_end = std::move(*end);
        }
        keyed.push_back({std::move(*key), std::move(key_end), i});
    }

    if (!set.interval || set.key.size() > 1) {
        // Plain keys, or concatenated ranges carried as KEY + KEY_END, in the given order.
        for (const auto& item : keyed) {
            const auto& source = elements[item.index];
            const Bytes* key_end = set.interval ? &item.key_end : nullptr;
            if (auto result =
                    list.add(item.key, key_end, 0, &source, static_cast<long>(item.index));
                !result)
                return std::unexpected(describe_element(set, source) + ": " + result.error());
        }
        return encoded;
    }

    // A non-concatenated interval set: start elements and (last + 1) end elements, in key
    // order, as nft sends them.
    std::sort(keyed.begin(), keyed.end(),
              [](const Keyed& a, const Keyed& b) { return a.key < b.key; });
    if (with_leading_zero_end && !keyed.empty() &&
        std::any_of(keyed.front().key.begin(), keyed.front().key.end(),
                    [](std::uint8_t byte) { return byte != 0; })) {
        Bytes zero(keyed.front().key.size(), 0);
        if (auto result = list.add(zero, nullptr, NFT_SET_ELEM_INTERVAL_END, nullptr, -1); !result)
            return std::unexpected(result.error());
    }
    for (auto& item : keyed) {
        const auto& source = elements[item.index];
        const auto index = static_cast<long>(item.index);
        if (auto result = list.add(item.key, nullptr, 0, &source, index); !result)
            return std::unexpected(describe_element(set, source) + ": " + result.error());
        if (increment_big_endian(item.key_end))
            if (auto result =
                    list.add(item.key_end, nullptr, NFT_SET_ELEM_INTERVAL_END, nullptr, index);
                !result)
                return std::unexpected(describe_element(set, source) + ": " + result.error());
    }
    return encoded;
}

}  // namespace natctl::netlink
