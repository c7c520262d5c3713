#include "netlink/nft_readback.hpp"

#include <netinet/in.h>
// clang-format off: the kernel headers need netinet/in.h first
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
// clang-format on

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <span>

#include <fmt/format.h>

#include "netlink/nft_encode.hpp"

namespace natctl::netlink {

using kernel::FieldType;

namespace {

struct IterFree {
    void operator()(nftnl_set_elems_iter* iter) const { nftnl_set_elems_iter_destroy(iter); }
};
struct ExprIterFree {
    void operator()(nftnl_expr_iter* iter) const { nftnl_expr_iter_destroy(iter); }
};

// Walks a user-data TLV blob without libnftnl's callback (so that a malformed blob from
// someone else's tool cannot make us read out of bounds).
template <typename Visit>
void for_each_udata(const void* data, std::uint32_t length, Visit visit) {
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    std::uint32_t offset = 0;
    while (offset + 2 <= length) {
        std::uint8_t type = bytes[offset];
        std::uint8_t value_length = bytes[offset + 1];
        if (offset + 2 + value_length > length) break;
        visit(type, std::span<const std::uint8_t>(bytes + offset + 2, value_length));
        offset += 2u + value_length;
    }
}

std::string udata_string(std::span<const std::uint8_t> value) {
    const auto* chars = reinterpret_cast<const char*>(value.data());
    return std::string(chars, strnlen(chars, value.size()));
}

void decrement_big_endian(std::vector<std::uint8_t>& bytes) {
    for (auto it = bytes.rbegin(); it != bytes.rend(); ++it)
        if ((*it)-- != 0) return;
}

std::optional<kernel::Verdict> decode_verdict(std::int32_t code, const char* chain) {
    kernel::Verdict verdict;
    switch (code) {
        case NF_ACCEPT:
            verdict.kind = kernel::Verdict::Kind::Accept;
            break;
        case NF_DROP:
            verdict.kind = kernel::Verdict::Kind::Drop;
            break;
        case NFT_RETURN:
            verdict.kind = kernel::Verdict::Kind::Return;
            break;
        case NFT_JUMP:
            verdict.kind = kernel::Verdict::Kind::Jump;
            break;
        case NFT_GOTO:
            verdict.kind = kernel::Verdict::Kind::Goto;
            break;
        default:
            return std::nullopt;
    }
    if (chain) verdict.chain = chain;
    return verdict;
}

struct RawElement {
    std::vector<std::uint8_t> key;
    std::vector<std::uint8_t> key_end;
    bool interval_end = false;
    std::vector<std::uint8_t> data;
    std::optional<kernel::Verdict> verdict;
};

std::expected<kernel::Element, std::string> decode_raw(const kernel::Set& schema,
                                                       const RawElement& raw) {
    bool network_order = integers_in_network_order(schema);
    kernel::Element element;
    auto key = decode_value(schema.key, raw.key, network_order);
    if (!key) return std::unexpected("key: " + key.error());
    element.key = std::move(*key);
    if (schema.interval) {
        auto end = decode_value(schema.key, raw.key_end, network_order);
        if (!end) return std::unexpected("key end: " + end.error());
        element.key_end = std::move(*end);
    }
    bool verdict_map = schema.data.size() == 1 && schema.data.front() == FieldType::Verdict;
    if (verdict_map) {
        if (!raw.verdict)
            return std::unexpected(std::string("verdict map element without verdict"));
        element.verdict = raw.verdict;
    } else if (schema.is_map()) {
        auto length = value_length(schema.data);
        auto data = decode_value(schema.data, raw.data, false);
        if (!data) return std::unexpected("data: " + data.error());
        element.data = std::move(*data);
        if (schema.data_interval) {
            if (raw.data.size() < 2 * length)
                return std::unexpected(std::string("data range shorter than two values"));
            auto end = decode_value(schema.data, std::span(raw.data).subspan(length), false);
            if (!end) return std::unexpected("data end: " + end.error());
            element.data_end = std::move(*end);
        }
    }
    return element;
}

}  // namespace

std::expected<kernel::Set, std::string> decode_set(const nftnl_set* set) {
    kernel::Set decoded;
    // libnftnl hands back a null string for an attribute the message did not carry.
    if (!nftnl_set_is_set(set, NFTNL_SET_NAME)) return std::unexpected("a set without a name");
    decoded.name = nftnl_set_get_str(set, NFTNL_SET_NAME);
    auto flags = nftnl_set_get_u32(set, NFTNL_SET_FLAGS);
    decoded.interval = (flags & NFT_SET_INTERVAL) != 0;
    decoded.dynamic = (flags & NFT_SET_EVAL) != 0;
    decoded.timeout = (flags & NFT_SET_TIMEOUT) != 0;
    if (nftnl_set_is_set(set, NFTNL_SET_DESC_SIZE))
        decoded.size = nftnl_set_get_u32(set, NFTNL_SET_DESC_SIZE);
    auto key = split_concat_type_id(nftnl_set_get_u32(set, NFTNL_SET_KEY_TYPE));
    if (!key) return std::unexpected(fmt::format("set {}: key: {}", decoded.name, key.error()));
    decoded.key = std::move(*key);
    if (flags & NFT_SET_MAP) {
        auto data_type = nftnl_set_get_u32(set, NFTNL_SET_DATA_TYPE);
        if (data_type == static_cast<std::uint32_t>(NFT_DATA_VERDICT)) {
            decoded.data = {FieldType::Verdict};
        } else {
            auto data = split_concat_type_id(data_type);
            if (!data)
                return std::unexpected(fmt::format("set {}: data: {}", decoded.name, data.error()));
            decoded.data = std::move(*data);
        }
    }
    if (nftnl_set_is_set(set, NFTNL_SET_USERDATA)) {
        std::uint32_t length = 0;
        const auto* udata = nftnl_set_get_data(set, NFTNL_SET_USERDATA, &length);
        for_each_udata(udata, length, [&](std::uint8_t type, std::span<const std::uint8_t> value) {
            if (type == NFTNL_UDATA_SET_DATA_INTERVAL && value.size() == 4) {
                std::uint32_t flag = 0;
                std::memcpy(&flag, value.data(), 4);
                decoded.data_interval = flag != 0;
            } else if (type == NFTNL_UDATA_SET_COMMENT) {
                decoded.comment = udata_string(value);
            }
        });
    }
    // Without user data (a set made by another tool), the data length tells ranges apart.
    if (decoded.is_map() && !decoded.data_interval && decoded.data.front() != FieldType::Verdict &&
        nftnl_set_is_set(set, NFTNL_SET_DATA_LEN) &&
        nftnl_set_get_u32(set, NFTNL_SET_DATA_LEN) == 2 * value_length(decoded.data))
        decoded.data_interval = true;
    return decoded;
}

std::expected<std::vector<kernel::Element>, std::string> decode_elements(const kernel::Set& schema,
                                                                         const nftnl_set* holder) {
    std::vector<RawElement> raws;
    std::unique_ptr<nftnl_set_elems_iter, IterFree> iter(nftnl_set_elems_iter_create(holder));
    if (!iter) return std::unexpected(std::string("out of memory"));
    for (auto* e = nftnl_set_elems_iter_next(iter.get()); e;
         e = nftnl_set_elems_iter_next(iter.get())) {
        RawElement raw;
        std::uint32_t length = 0;
        if (const auto* key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &length))
            raw.key.assign(static_cast<const std::uint8_t*>(key),
                           static_cast<const std::uint8_t*>(key) + length);
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_KEY_END)) {
            const auto* end = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY_END, &length);
            raw.key_end.assign(static_cast<const std::uint8_t*>(end),
                               static_cast<const std::uint8_t*>(end) + length);
        }
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
            raw.interval_end =
                (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END) != 0;
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) {
            const char* chain = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN)
                                    ? nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN)
                                    : nullptr;
            raw.verdict = decode_verdict(
                static_cast<std::int32_t>(nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT)),
                chain);
        } else if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_DATA)) {
            const auto* data = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &length);
            raw.data.assign(static_cast<const std::uint8_t*>(data),
                            static_cast<const std::uint8_t*>(data) + length);
        }
        raws.push_back(std::move(raw));
    }

    std::vector<kernel::Element> elements;
    if (schema.interval && schema.key.size() == 1) {
        // Start elements and (last + 1) end elements: pair each start with the next end. At
        // equal keys an end closes the previous range before a new one starts there.
        std::sort(raws.begin(), raws.end(), [](const RawElement& a, const RawElement& b) {
            if (a.key != b.key) return a.key < b.key;
            return a.interval_end && !b.interval_end;
        });
        RawElement* open = nullptr;
        auto close = [&](std::vector<std::uint8_t> last) -> std::expected<void, std::string> {
            open->key_end = std::move(last);
            auto element = decode_raw(schema, *open);
            if (!element) return std::unexpected(element.error());
            elements.push_back(std::move(*element));
            open = nullptr;
            return {};
        };
        for (auto& raw : raws) {
            if (raw.interval_end) {
                if (!open) continue;  // nft's leading zero end element
                auto last = raw.key;
                decrement_big_endian(last);
                if (auto closed = close(std::move(last)); !closed)
                    return std::unexpected(closed.error());
            } else {
                if (open) {
                    auto last = raw.key;
                    decrement_big_endian(last);
                    if (auto closed = close(std::move(last)); !closed)
                        return std::unexpected(closed.error());
                }
                open = &raw;
            }
        }
        if (open) {
            std::vector<std::uint8_t> top(open->key.size(), 0xff);
            if (auto closed = close(std::move(top)); !closed)
                return std::unexpected(closed.error());
        }
    } else {
        elements.reserve(raws.size());
        for (const auto& raw : raws) {
            auto element = decode_raw(schema, raw);
            if (!element) return std::unexpected(element.error());
            elements.push_back(std::move(*element));
        }
    }
    std::sort(elements.begin(), elements.end());
    return elements;
}

std::expected<kernel::ObservedChain, std::string> decode_chain(const nftnl_chain* chain) {
    if (!nftnl_chain_is_set(chain, NFTNL_CHAIN_NAME))
        return std::unexpected("a chain without a name");
    kernel::ObservedChain decoded;
    decoded.name = nftnl_chain_get_str(chain, NFTNL_CHAIN_NAME);
    decoded.handle = nftnl_chain_get_u64(chain, NFTNL_CHAIN_HANDLE);
    if (nftnl_chain_is_set(chain, NFTNL_CHAIN_HOOKNUM)) {
        kernel::BaseChain base;
        if (nftnl_chain_is_set(chain, NFTNL_CHAIN_TYPE))
            base.type = nftnl_chain_get_str(chain, NFTNL_CHAIN_TYPE);
        static constexpr const char* kHooks[] = {"prerouting", "input", "forward", "output",
                                                 "postrouting"};
        auto hook = nftnl_chain_get_u32(chain, NFTNL_CHAIN_HOOKNUM);
        base.hook = hook < std::size(kHooks) ? kHooks[hook] : std::to_string(hook);
        base.priority = nftnl_chain_get_s32(chain, NFTNL_CHAIN_PRIO);
        base.policy_accept = !nftnl_chain_is_set(chain, NFTNL_CHAIN_POLICY) ||
                             nftnl_chain_get_u32(chain, NFTNL_CHAIN_POLICY) == NF_ACCEPT;
        decoded.base = std::move(base);
    }
    if (nftnl_chain_is_set(chain, NFTNL_CHAIN_USERDATA)) {
        std::uint32_t length = 0;
        const auto* udata = nftnl_chain_get_data(chain, NFTNL_CHAIN_USERDATA, &length);
        for_each_udata(udata, length, [&](std::uint8_t type, std::span<const std::uint8_t> value) {
            if (type == NFTNL_UDATA_CHAIN_COMMENT) decoded.comment = udata_string(value);
        });
    }
    return decoded;
}

kernel::ObservedRule decode_rule(const nftnl_rule* rule) {
    kernel::ObservedRule decoded;
    decoded.handle = nftnl_rule_get_u64(rule, NFTNL_RULE_HANDLE);
    if (nftnl_rule_is_set(rule, NFTNL_RULE_USERDATA)) {
        std::uint32_t length = 0;
        const auto* udata = nftnl_rule_get_data(rule, NFTNL_RULE_USERDATA, &length);
        for_each_udata(udata, length, [&](std::uint8_t type, std::span<const std::uint8_t> value) {
            if (type == NFTNL_UDATA_RULE_COMMENT)
                decoded.comment = udata_string(value);
            else if (type == kRuleIdentityUdataType)
                decoded.digest.assign(reinterpret_cast<const char*>(value.data()), value.size());
        });
    }
    std::unique_ptr<nftnl_expr_iter, ExprIterFree> iter(nftnl_expr_iter_create(rule));
    if (iter)
        for (auto* expr = nftnl_expr_iter_next(iter.get()); expr;
             expr = nftnl_expr_iter_next(iter.get()))
            if (std::strcmp(nftnl_expr_get_str(expr, NFTNL_EXPR_NAME), "counter") == 0) {
                decoded.packets =
                    decoded.packets.value_or(0) + nftnl_expr_get_u64(expr, NFTNL_EXPR_CTR_PACKETS);
                decoded.bytes =
                    decoded.bytes.value_or(0) + nftnl_expr_get_u64(expr, NFTNL_EXPR_CTR_BYTES);
            }
    return decoded;
}

kernel::Element normalize_element(const kernel::Set& schema, kernel::Element element) {
    if (schema.interval && element.key_end.empty()) element.key_end = element.key;
    if (!schema.interval) element.key_end.clear();
    if (schema.data_interval && element.data_end.empty()) element.data_end = element.data;
    return element;
}

}  // namespace natctl::netlink
