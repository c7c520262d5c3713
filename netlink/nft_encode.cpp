#include "netlink/nft_encode.hpp"

#include "util/fnv1a.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
// clang-format off: the kernel headers need netinet/in.h first
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
// clang-format on

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <numeric>

#include <fmt/format.h>

namespace natctl::netlink {

using kernel::FieldType;

void NftnlFree::operator()(nftnl_table* table) const {
    nftnl_table_free(table);
}
void NftnlFree::operator()(nftnl_chain* chain) const {
    nftnl_chain_free(chain);
}
void NftnlFree::operator()(nftnl_rule* rule) const {
    nftnl_rule_free(rule);
}
void NftnlFree::operator()(nftnl_set* set) const {
    nftnl_set_free(set);
}
void NftnlFree::operator()(nftnl_set_elem* element) const {
    nftnl_set_elem_free(element);
}
void NftnlFree::operator()(nftnl_expr* expr) const {
    nftnl_expr_free(expr);
}

namespace {

// Room for any value: kernel keys are at most 64 bytes (NFT_DATA_VALUE_MAXLEN).
constexpr std::size_t kMaxValueBytes = 64;

struct UdataFree {
    void operator()(nftnl_udata_buf* buf) const { nftnl_udata_buf_free(buf); }
};
using UdataBuf = std::unique_ptr<nftnl_udata_buf, UdataFree>;

// nft's enum byteorder (src/datatype.h): what the set's user data records per value.
enum class ByteOrder : std::uint32_t { Invalid = 0, Host = 1, Big = 2 };

ByteOrder field_byte_order(FieldType type) {
    switch (type) {
        case FieldType::Ipv4:
        case FieldType::InetService:
            return ByteOrder::Big;
        case FieldType::Verdict:
            return ByteOrder::Invalid;
        case FieldType::Integer32:
        case FieldType::InetProto:
        case FieldType::Mark:
        case FieldType::Realm:
        case FieldType::CtState:
        case FieldType::IfName:
            return ByteOrder::Host;
    }
    return ByteOrder::Invalid;
}

ByteOrder value_byte_order(std::span<const FieldType> fields) {
    if (fields.size() != 1) return ByteOrder::Invalid;  // concatenations: nft writes 0
    return field_byte_order(fields.front());
}

// nft's expression type ids (src/expression.h) used in the typeof user data.
constexpr std::uint32_t kExprConcat = 13;
// nft's user-data TLVs of a typeof description (NFTNL_UDATA_SET_TYPEOF_*).
constexpr std::uint8_t kTypeofExpr = 0;
constexpr std::uint8_t kTypeofData = 1;

void put_concat_typeof(nftnl_udata_buf* buf, std::uint8_t type) {
    auto* outer = nftnl_udata_nest_start(buf, type);
    nftnl_udata_put_u32(buf, kTypeofExpr, kExprConcat);
    auto* inner = nftnl_udata_nest_start(buf, kTypeofData);
    nftnl_udata_nest_end(buf, inner);
    nftnl_udata_nest_end(buf, outer);
}

std::expected<std::uint32_t, std::string> hook_number(const std::string& hook) {
    if (hook == "prerouting") return NF_INET_PRE_ROUTING;
    if (hook == "input") return NF_INET_LOCAL_IN;
    if (hook == "forward") return NF_INET_FORWARD;
    if (hook == "output") return NF_INET_LOCAL_OUT;
    if (hook == "postrouting") return NF_INET_POST_ROUTING;
    return std::unexpected(fmt::format("unknown hook '{}'", hook));
}

void put_be(std::uint8_t* out, std::uint32_t value, std::uint32_t length) {
    for (std::uint32_t i = 0; i < length; ++i)
        out[i] = static_cast<std::uint8_t>(value >> (8 * (length - 1 - i)));
}

std::uint32_t get_be(const std::uint8_t* in, std::uint32_t length) {
    std::uint32_t value = 0;
    for (std::uint32_t i = 0; i < length; ++i)
        value = (value << 8) | in[i];
    return value;
}

std::string proto_name(std::uint32_t proto) {
    switch (proto) {
        case IPPROTO_TCP:
            return "tcp";
        case IPPROTO_UDP:
            return "udp";
        case IPPROTO_ICMP:
            return "icmp";
        default:
            return std::to_string(proto);
    }
}

}  // namespace

// ---- field layout ----------------------------------------------------------------------

std::uint32_t verdict_code(kernel::Verdict::Kind kind) {
    switch (kind) {
        case kernel::Verdict::Kind::Accept:
            return NF_ACCEPT;
        case kernel::Verdict::Kind::Drop:
            return NF_DROP;
        case kernel::Verdict::Kind::Return:
            return static_cast<std::uint32_t>(NFT_RETURN);
        case kernel::Verdict::Kind::Jump:
            return static_cast<std::uint32_t>(NFT_JUMP);
        case kernel::Verdict::Kind::Goto:
            return static_cast<std::uint32_t>(NFT_GOTO);
    }
    return NF_ACCEPT;
}

std::uint32_t nft_type_id(FieldType type) {
    switch (type) {
        case FieldType::Verdict:
            return 1;
        case FieldType::Integer32:
            return 4;
        case FieldType::Ipv4:
            return 7;
        case FieldType::InetProto:
            return 12;
        case FieldType::InetService:
            return 13;
        case FieldType::Mark:
            return 19;
        case FieldType::Realm:
            return 22;
        case FieldType::CtState:
            return 26;
        case FieldType::IfName:
            return 41;
    }
    return 0;
}

std::uint32_t field_length(FieldType type) {
    switch (type) {
        case FieldType::Verdict:
            return 0;
        case FieldType::InetProto:
            return 1;
        case FieldType::InetService:
            return 2;
        case FieldType::IfName:
            return 16;
        case FieldType::Integer32:
        case FieldType::Ipv4:
        case FieldType::Mark:
        case FieldType::Realm:
        case FieldType::CtState:
            return 4;
    }
    return 0;
}

std::uint32_t field_slot(FieldType type) {
    return (field_length(type) + 3) & ~3u;
}

std::uint32_t concat_type_id(std::span<const FieldType> fields) {
    std::uint32_t id = 0;
    for (auto field : fields)
        id = (id << 6) | nft_type_id(field);
    return id;
}

std::expected<std::vector<FieldType>, std::string> split_concat_type_id(std::uint32_t id) {
    static constexpr FieldType kAll[] = {
        FieldType::Verdict,   FieldType::Integer32,   FieldType::Ipv4,
        FieldType::InetProto, FieldType::InetService, FieldType::Mark,
        FieldType::Realm,     FieldType::CtState,     FieldType::IfName};
    std::vector<FieldType> fields;
    if (id == 0) return std::unexpected(std::string("key type 0"));
    while (id != 0) {
        auto part = id & 0x3f;
        auto found = std::find_if(std::begin(kAll), std::end(kAll),
                                  [part](FieldType type) { return nft_type_id(type) == part; });
        if (found == std::end(kAll))
            return std::unexpected(fmt::format("unsupported nft datatype id {}", part));
        fields.insert(fields.begin(), *found);
        id >>= 6;
    }
    return fields;
}

std::uint32_t value_length(std::span<const FieldType> fields) {
    if (fields.size() == 1) return field_length(fields.front());
    std::uint32_t length = 0;
    for (auto field : fields)
        length += field_slot(field);
    return length;
}

bool integers_in_network_order(const kernel::Set& set) {
    return set.interval;
}

// Writes the value into `bytes` (room for kMaxValueBytes); returns its length.
static std::expected<std::uint32_t, std::string> encode_value_into(
    std::span<const FieldType> fields, const kernel::FieldList& values, bool network_order_integers,
    std::uint8_t* bytes) {
    if (fields.size() != values.size())
        return std::unexpected(
            fmt::format("value has {} fields, type has {}", values.size(), fields.size()));
    auto length = value_length(fields);
    if (length > kMaxValueBytes) return std::unexpected(std::string("value longer than 64 bytes"));
    std::memset(bytes, 0, length);
    bool concat = fields.size() > 1;
    std::uint32_t offset = 0;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        auto field = fields[i];
        auto* out = bytes + offset;
        if (field == FieldType::IfName) {
            if (values.is_number(i) || values.name(i).size() >= 16)
                return std::unexpected(std::string("interface name expected (< 16 chars)"));
            auto name = values.name(i);
            std::memcpy(out, name.data(), name.size());
        } else {
            if (!values.is_number(i)) return std::unexpected(std::string("number expected"));
            const auto value = values.number(i);
            const auto* number = &value;
            switch (field) {
                case FieldType::Ipv4:
                    put_be(out, *number, 4);
                    break;
                case FieldType::InetService:
                    if (*number > 0xffff) return std::unexpected(std::string("port > 65535"));
                    put_be(out, *number, 2);
                    break;
                case FieldType::InetProto:
                    if (*number > 0xff) return std::unexpected(std::string("protocol > 255"));
                    out[0] = static_cast<std::uint8_t>(*number);
                    break;
                case FieldType::Integer32:
                case FieldType::Mark:
                case FieldType::Realm:
                case FieldType::CtState:
                    if (network_order_integers)
                        put_be(out, *number, 4);
                    else
                        std::memcpy(out, number, 4);
                    break;
                case FieldType::Verdict:
                case FieldType::IfName:
                    return std::unexpected(std::string("verdicts are not values"));
            }
        }
        offset += concat ? field_slot(field) : field_length(field);
    }
    return length;
}

std::expected<std::vector<std::uint8_t>, std::string> encode_value(
    std::span<const FieldType> fields, const kernel::FieldList& values,
    bool network_order_integers) {
    std::vector<std::uint8_t> bytes(value_length(fields), 0);
    auto written = encode_value_into(fields, values, network_order_integers, bytes.data());
    if (!written) return std::unexpected(written.error());
    return bytes;
}

std::expected<std::vector<kernel::Scalar>, std::string> decode_value(
    std::span<const FieldType> fields, std::span<const std::uint8_t> bytes,
    bool network_order_integers) {
    if (bytes.size() < value_length(fields))
        return std::unexpected(
            fmt::format("value of {} bytes, type needs {}", bytes.size(), value_length(fields)));
    std::vector<kernel::Scalar> values;
    bool concat = fields.size() > 1;
    std::uint32_t offset = 0;
    for (auto field : fields) {
        const auto* in = bytes.data() + offset;
        switch (field) {
            case FieldType::IfName: {
                const auto* chars = reinterpret_cast<const char*>(in);
                values.emplace_back(std::string(chars, strnlen(chars, 16)));
                break;
            }
            case FieldType::Ipv4:
                values.emplace_back(get_be(in, 4));
                break;
            case FieldType::InetService:
                values.emplace_back(get_be(in, 2));
                break;
            case FieldType::InetProto:
                values.emplace_back(std::uint32_t{in[0]});
                break;
            case FieldType::Integer32:
            case FieldType::Mark:
            case FieldType::Realm:
            case FieldType::CtState: {
                std::uint32_t number = 0;
                if (network_order_integers)
                    number = get_be(in, 4);
                else
                    std::memcpy(&number, in, 4);
                values.emplace_back(number);
                break;
            }
            case FieldType::Verdict:
                return std::unexpected(std::string("verdicts are not values"));
        }
        offset += concat ? field_slot(field) : field_length(field);
    }
    return values;
}

std::string describe_value(std::span<const FieldType> fields, const kernel::FieldList& values) {
    std::string text;
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i) text += " . ";
        auto field = i < fields.size() ? fields[i] : FieldType::Integer32;
        if (!values.is_number(i)) {
            text += fmt::format("\"{}\"", values.name(i));
            continue;
        }
        auto number = values.number(i);
        switch (field) {
            case FieldType::Ipv4:
                text += fmt::format("{}.{}.{}.{}", number >> 24, (number >> 16) & 0xff,
                                    (number >> 8) & 0xff, number & 0xff);
                break;
            case FieldType::InetProto:
                text += proto_name(number);
                break;
            case FieldType::Mark:
                text += fmt::format("{:#010x}", number);
                break;
            default:
                text += std::to_string(number);
        }
    }
    return text;
}

std::string describe_element(const kernel::Set& set, const kernel::Element& element) {
    auto text = describe_value(set.key, element.key);
    if (!element.key_end.empty() && element.key_end != element.key)
        text += "-" + describe_value(set.key, element.key_end);
    if (element.verdict) {
        static constexpr const char* kNames[] = {"accept", "drop", "return", "jump", "goto"};
        text += fmt::format(" : {}", kNames[static_cast<int>(element.verdict->kind)]);
        if (!element.verdict->chain.empty()) text += " " + element.verdict->chain;
    } else if (!element.data.empty()) {
        text += " : " + describe_value(set.data, element.data);
        if (!element.data_end.empty()) text += "-" + describe_value(set.data, element.data_end);
    }
    return text;
}

// ---- identities -------------------------------------------------------------------------

std::uint64_t fnv1a64(std::string_view text) {
    return util::fnv1a64(text);
}

std::string rule_identity_digest(std::string_view rule_text) {
    return fmt::format("{:016x}", fnv1a64(rule_text));
}

// ---- objects ----------------------------------------------------------------------------

NftnlTable encode_table(const std::string& table_name) {
    NftnlTable table(nftnl_table_alloc());
    nftnl_table_set_u32(table.get(), NFTNL_TABLE_FAMILY, NFPROTO_IPV4);
    nftnl_table_set_str(table.get(), NFTNL_TABLE_NAME, table_name.c_str());
    return table;
}

NftnlChain encode_chain_ref(const std::string& table_name, const std::string& chain_name) {
    NftnlChain chain(nftnl_chain_alloc());
    nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_FAMILY, NFPROTO_IPV4);
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TABLE, table_name.c_str());
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_NAME, chain_name.c_str());
    return chain;
}

std::expected<NftnlChain, std::string> encode_chain(const std::string& table_name,
                                                    const kernel::Chain& chain) {
    auto encoded = encode_chain_ref(table_name, chain.name);
    if (chain.base) {
        auto hook = hook_number(chain.base->hook);
        if (!hook) return std::unexpected(hook.error());
        nftnl_chain_set_str(encoded.get(), NFTNL_CHAIN_TYPE, chain.base->type.c_str());
        nftnl_chain_set_u32(encoded.get(), NFTNL_CHAIN_HOOKNUM, *hook);
        nftnl_chain_set_s32(encoded.get(), NFTNL_CHAIN_PRIO, chain.base->priority);
        nftnl_chain_set_u32(encoded.get(), NFTNL_CHAIN_POLICY,
                            chain.base->policy_accept ? NF_ACCEPT : NF_DROP);
    }
    if (!chain.comment.empty()) {
        UdataBuf buf(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
        nftnl_udata_put_strz(buf.get(), NFTNL_UDATA_CHAIN_COMMENT, chain.comment.c_str());
        nftnl_chain_set_data(encoded.get(), NFTNL_CHAIN_USERDATA, nftnl_udata_buf_data(buf.get()),
                             nftnl_udata_buf_len(buf.get()));
    }
    return encoded;
}

std::vector<std::uint8_t> set_userdata(const kernel::Set& set, bool anonymous) {
    UdataBuf buf(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    nftnl_udata_put_u32(buf.get(), NFTNL_UDATA_SET_KEYBYTEORDER,
                        static_cast<std::uint32_t>(value_byte_order(set.key)));
    if (set.is_map())
        nftnl_udata_put_u32(buf.get(), NFTNL_UDATA_SET_DATABYTEORDER,
                            static_cast<std::uint32_t>(value_byte_order(set.data)));
    // nft describes a named set's concatenated key/data as a typeof "concat" expression.
    if (!anonymous && set.key.size() > 1) put_concat_typeof(buf.get(), NFTNL_UDATA_SET_KEY_TYPEOF);
    if (!anonymous && set.data.size() > 1)
        put_concat_typeof(buf.get(), NFTNL_UDATA_SET_DATA_TYPEOF);
    if (set.is_map())
        nftnl_udata_put_u32(buf.get(), NFTNL_UDATA_SET_DATA_INTERVAL, set.data_interval ? 1 : 0);
    if (!set.comment.empty())
        nftnl_udata_put_strz(buf.get(), NFTNL_UDATA_SET_COMMENT, set.comment.c_str());
    const auto* data = static_cast<const std::uint8_t*>(nftnl_udata_buf_data(buf.get()));
    return {data, data + nftnl_udata_buf_len(buf.get())};
}

std::expected<NftnlSet, std::string> encode_set(const std::string& table_name,
                                                const kernel::Set& set,
                                                const SetIdentity& identity) {
    if (set.key.empty()) return std::unexpected(std::string("set without key type"));
    bool verdict_map = set.data.size() == 1 && set.data.front() == FieldType::Verdict;
    NftnlSet encoded(nftnl_set_alloc());
    auto* s = encoded.get();
    nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_IPV4);
    nftnl_set_set_str(s, NFTNL_SET_TABLE, table_name.c_str());
    nftnl_set_set_str(s, NFTNL_SET_NAME, identity.name.c_str());
    nftnl_set_set_u32(s, NFTNL_SET_ID, identity.id);
    std::uint32_t flags = 0;
    if (identity.anonymous) flags |= NFT_SET_ANONYMOUS | NFT_SET_CONSTANT;
    if (set.is_map()) flags |= NFT_SET_MAP;
    if (set.interval) flags |= NFT_SET_INTERVAL;
    if (set.interval && set.key.size() > 1) flags |= NFT_SET_CONCAT;
    if (set.dynamic) flags |= NFT_SET_EVAL;
    if (set.timeout) flags |= NFT_SET_TIMEOUT;
    nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
    nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, concat_type_id(set.key));
    nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, value_length(set.key));
    if (verdict_map) {
        nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, static_cast<std::uint32_t>(NFT_DATA_VERDICT));
    } else if (set.is_map()) {
        auto length = value_length(set.data) * (set.data_interval ? 2 : 1);
        nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, concat_type_id(set.data));
        nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, length);
    }
    if (flags & NFT_SET_CONCAT) {
        std::vector<std::uint8_t> lengths;
        for (auto field : set.key)
            lengths.push_back(static_cast<std::uint8_t>(field_length(field)));
        nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, lengths.data(),
                           static_cast<std::uint32_t>(lengths.size()));
    }
    if (identity.anonymous)
        nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, static_cast<std::uint32_t>(set.elements.size()));
    else if (set.size != 0)
        nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, set.size);
    auto udata = set_userdata(set, identity.anonymous);
    nftnl_set_set_data(s, NFTNL_SET_USERDATA, udata.data(),
                       static_cast<std::uint32_t>(udata.size()));
    return encoded;
}

// ---- element messages straight into a batch buffer --------------------------------------

std::optional<long> ElementSources::source_of(std::size_t position) const {
    if (position >= kernel_elements) return std::nullopt;
    if (source_index.empty()) return static_cast<long>(position);
    return source_index[position];
}

namespace {

constexpr std::size_t align4(std::size_t length) {
    return (length + 3) & ~std::size_t{3};
}

// libnftnl closes an element list before the NFTA_SET_ELEM_LIST_ELEMENTS attribute (its
// header included) would exceed the 16-bit attribute length.
constexpr std::size_t kMaxElementList = 0xffff;

bool is_verdict_map(const kernel::Set& set) {
    return set.data.size() == 1 && set.data.front() == FieldType::Verdict;
}

// Bytes of NFTA_SET_ELEM_DATA's value for this set (0: no value data).
std::uint32_t data_value_length(const kernel::Set& set) {
    if (!set.is_map() || is_verdict_map(set)) return 0;
    return value_length(set.data) * (set.data_interval ? 2u : 1u);
}

// The bytes of one kernel element's NFTA_LIST_ELEM nest, attribute by attribute as
// nftnl_set_elem_nlmsg_build_payload writes them.
struct ElementLayout {
    std::uint32_t key_length = 0;
    std::uint32_t key_end_length = 0;  // 0: no KEY_END
    bool has_flags = false;
    std::uint32_t data_length = 0;             // 0: no value data
    const kernel::Verdict* verdict = nullptr;  // verdict maps

    std::size_t size() const {
        std::size_t bytes = NLA_HDRLEN;  // NFTA_LIST_ELEM
        if (has_flags) bytes += NLA_HDRLEN + 4;
        bytes += 2 * NLA_HDRLEN + align4(key_length);
        if (key_end_length) bytes += 2 * NLA_HDRLEN + align4(key_end_length);
        if (verdict) {
            bytes += 3 * NLA_HDRLEN + 4;  // DATA { VERDICT { CODE } }
            if (!verdict->chain.empty()) bytes += NLA_HDRLEN + align4(verdict->chain.size() + 1);
        }
        if (data_length) bytes += 2 * NLA_HDRLEN + align4(data_length);
        return bytes;
    }
};

// Writes the elements of one list, opening and closing messages through the sink exactly
// where libnftnl's iterator does.
class ElementListWriter {
  public:
    ElementListWriter(const std::string& table_name, const SetIdentity& identity,
                      ElementMessageSink& sink)
        : table_name_(table_name), identity_(identity), sink_(sink) {}

    void add(const ElementLayout& layout, const std::uint8_t* key, const std::uint8_t* key_end,
             std::uint32_t flags, const std::uint8_t* data) {
        auto size = layout.size();
        if (message_ != nullptr &&
            tail() - reinterpret_cast<const char*>(list_) + size > kMaxElementList)
            finish();
        if (message_ == nullptr) start();
        auto* element = mnl_attr_nest_start(message_, static_cast<std::uint16_t>(++index_));
        if (layout.has_flags) mnl_attr_put_u32(message_, NFTA_SET_ELEM_FLAGS, htonl(flags));
        auto* nest = mnl_attr_nest_start(message_, NFTA_SET_ELEM_KEY);
        put(NFTA_DATA_VALUE, layout.key_length, key);
        mnl_attr_nest_end(message_, nest);
        if (layout.key_end_length) {
            nest = mnl_attr_nest_start(message_, NFTA_SET_ELEM_KEY_END);
            put(NFTA_DATA_VALUE, layout.key_end_length, key_end);
            mnl_attr_nest_end(message_, nest);
        }
        if (layout.verdict) {
            nest = mnl_attr_nest_start(message_, NFTA_SET_ELEM_DATA);
            auto* verdict = mnl_attr_nest_start(message_, NFTA_DATA_VERDICT);
            mnl_attr_put_u32(message_, NFTA_VERDICT_CODE,
                             htonl(verdict_code(layout.verdict->kind)));
            if (!layout.verdict->chain.empty())
                put(NFTA_VERDICT_CHAIN, layout.verdict->chain.size() + 1,
                    layout.verdict->chain.c_str());
            mnl_attr_nest_end(message_, verdict);
            mnl_attr_nest_end(message_, nest);
        }
        if (layout.data_length) {
            nest = mnl_attr_nest_start(message_, NFTA_SET_ELEM_DATA);
            put(NFTA_DATA_VALUE, layout.data_length, data);
            mnl_attr_nest_end(message_, nest);
        }
        mnl_attr_nest_end(message_, element);
        ++written_;
    }

    void finish() {
        if (message_ == nullptr) return;
        mnl_attr_nest_end(message_, list_);
        sink_.end_message(message_, first_, written_ - first_);
        message_ = nullptr;
        list_ = nullptr;
    }

    std::size_t written() const { return written_; }

  private:
    const char* tail() const {
        return static_cast<const char*>(mnl_nlmsg_get_payload_tail(message_));
    }

    // mnl_attr_put, with the padding zeroed: libmnl 1.0.4 leaves it as the buffer had it
    // (newer versions zero it), so that the batch never depends on what the reused buffer held.
    void put(std::uint16_t type, std::size_t length, const void* data) {
        mnl_attr_put(message_, type, length, data);
        if (auto pad = align4(length) - length; pad != 0)
            std::memset(const_cast<char*>(tail()) - pad, 0, pad);
    }

    void start() {
        message_ = sink_.begin_message(kElementMessageRoom);
        put(NFTA_SET_ELEM_LIST_SET, identity_.name.size() + 1, identity_.name.c_str());
        if (identity_.anonymous)
            mnl_attr_put_u32(message_, NFTA_SET_ELEM_LIST_SET_ID, htonl(identity_.id));
        put(NFTA_SET_ELEM_LIST_TABLE, table_name_.size() + 1, table_name_.c_str());
        list_ = mnl_attr_nest_start(message_, NFTA_SET_ELEM_LIST_ELEMENTS);
        first_ = written_;
        index_ = 0;
    }

    const std::string& table_name_;
    const SetIdentity& identity_;
    ElementMessageSink& sink_;
    nlmsghdr* message_ = nullptr;
    nlattr* list_ = nullptr;
    std::size_t first_ = 0;
    std::size_t written_ = 0;
    unsigned index_ = 0;  // NFTA_LIST_ELEM numbering restarts in every message (as libnftnl)
};

// The value data of a map element (data, then data end for data ranges) into `out`.
std::expected<void, std::string> encode_payload_into(const kernel::Set& set,
                                                     const kernel::Element& source,
                                                     std::uint8_t* out) {
    auto length = encode_value_into(set.data, source.data, false, out);
    if (!length) return std::unexpected("data: " + length.error());
    if (set.data_interval) {
        auto end =
            encode_value_into(set.data, source.data_end.empty() ? source.data : source.data_end,
                              false, out + *length);
        if (!end) return std::unexpected("data end: " + end.error());
    }
    return {};
}

std::size_t element_upper_size(const kernel::Set& set, const kernel::Element& element,
                               std::uint32_t key_length) {
    ElementLayout layout;
    layout.key_length = key_length;
    layout.key_end_length = set.interval && set.key.size() > 1 ? key_length : 0;
    layout.has_flags = set.interval && set.key.size() == 1;
    layout.data_length = data_value_length(set);
    layout.verdict = is_verdict_map(set) && element.verdict ? &*element.verdict : nullptr;
    return layout.size();
}

}  // namespace

std::size_t element_messages_size_bound(const kernel::Set& set,
                                        std::span<const kernel::Element> elements,
                                        bool with_leading_zero_end) {
    if (elements.empty()) return 0;
    auto key_length = value_length(set.key);
    bool prefix_intervals = set.interval && set.key.size() == 1;
    std::size_t total = 0;
    std::size_t largest = 0;
    for (const auto& element : elements) {
        auto size = element_upper_size(set, element, key_length);
        largest = std::max(largest, size);
        total += size;
    }
    if (prefix_intervals) {
        // An end element per range, plus the leading zero end element.
        auto end_size = NLA_HDRLEN + NLA_HDRLEN + 4 + 2 * NLA_HDRLEN + align4(key_length);
        total += (elements.size() + (with_leading_zero_end ? 1 : 0)) * end_size;
        largest = std::max(largest, end_size);
    }
    // Every message but the last holds more than kMaxElementList - header - largest bytes.
    auto per_message = kMaxElementList - NLA_HDRLEN - largest;
    auto messages = total / per_message + 1;
    // Set and table names are at most 256 bytes each (NFT_NAME_MAXLEN).
    return total + messages * (NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)) + 4 * NLA_HDRLEN + 4 +
                               2 * align4(256));
}

std::expected<ElementSources, std::string> encode_element_messages(
    const std::string& table_name, const kernel::Set& set, const SetIdentity& identity,
    std::span<const kernel::Element> elements, bool with_leading_zero_end,
    ElementMessageSink& sink) {
    ElementSources sources;
    if (elements.empty()) return sources;
    bool network_order = integers_in_network_order(set);
    ElementListWriter writer(table_name, identity, sink);
    bool verdict_map = is_verdict_map(set);
    auto data_length = data_value_length(set);
    std::array<std::uint8_t, kMaxValueBytes> key{};
    std::array<std::uint8_t, kMaxValueBytes> key_end{};
    std::array<std::uint8_t, 2 * kMaxValueBytes> data{};

    // The payload (value data or verdict) of `source` into `layout` / `data`.
    auto payload = [&](ElementLayout& layout,
                       const kernel::Element& source) -> std::expected<void, std::string> {
        if (verdict_map) {
            if (!source.verdict)
                return std::unexpected(std::string("verdict map element without verdict"));
            layout.verdict = &*source.verdict;
        } else if (data_length) {
            if (auto encoded = encode_payload_into(set, source, data.data()); !encoded)
                return encoded;
            layout.data_length = data_length;
        }
        return {};
    };

    if (!set.interval || set.key.size() > 1) {
        // Plain keys, or concatenated ranges carried as KEY + KEY_END: kernel element i is
        // elements[i]. The path of the large maps.
        for (const auto& source : elements) {
            ElementLayout layout;
            auto key_length = encode_value_into(set.key, source.key, network_order, key.data());
            if (!key_length)
                return std::unexpected(describe_element(set, source) + ": " + key_length.error());
            layout.key_length = *key_length;
            if (set.interval) {
                auto end_length =
                    encode_value_into(set.key, source.key_end.empty() ? source.key : source.key_end,
                                      network_order, key_end.data());
                if (!end_length)
                    return std::unexpected(describe_element(set, source) + ": " +
                                           end_length.error());
                layout.key_end_length = *end_length;
            }
            if (auto result = payload(layout, source); !result)
                return std::unexpected(describe_element(set, source) + ": " + result.error());
            writer.add(layout, key.data(), key_end.data(), 0, data.data());
        }
        writer.finish();
        sources.kernel_elements = writer.written();
        return sources;
    }

    // A non-concatenated interval set: start elements and (last + 1) end elements, in key
    // order, as nft sends them.
    struct Keyed {
        std::array<std::uint8_t, kMaxValueBytes> key;
        std::array<std::uint8_t, kMaxValueBytes> end;
        std::size_t index;
    };
    std::vector<Keyed> keyed(elements.size());
    std::uint32_t length = 0;
    for (std::size_t i = 0; i < elements.size(); ++i) {
        const auto& element = elements[i];
        auto& item = keyed[i];
        item.index = i;
        auto key_length = encode_value_into(set.key, element.key, network_order, item.key.data());
        if (!key_length)
            return std::unexpected(describe_value(set.key, element.key) + ": " +
                                   key_length.error());
        auto end_length =
            encode_value_into(set.key, element.key_end.empty() ? element.key : element.key_end,
                              network_order, item.end.data());
        if (!end_length)
            return std::unexpected(describe_element(set, element) + ": " + end_length.error());
        length = *key_length;
    }
    std::sort(keyed.begin(), keyed.end(), [length](const Keyed& a, const Keyed& b) {
        return std::memcmp(a.key.data(), b.key.data(), length) < 0;
    });
    sources.source_index.reserve(2 * elements.size() + 1);
    ElementLayout end_layout;
    end_layout.key_length = length;
    end_layout.has_flags = true;
    if (with_leading_zero_end &&
        std::any_of(keyed.front().key.begin(), keyed.front().key.begin() + length,
                    [](std::uint8_t byte) { return byte != 0; })) {
        std::array<std::uint8_t, kMaxValueBytes> zero{};
        writer.add(end_layout, zero.data(), nullptr, NFT_SET_ELEM_INTERVAL_END, nullptr);
        sources.source_index.push_back(-1);
    }
    for (auto& item : keyed) {
        const auto& source = elements[item.index];
        ElementLayout layout;
        layout.key_length = length;
        if (auto result = payload(layout, source); !result)
            return std::unexpected(describe_element(set, source) + ": " + result.error());
        writer.add(layout, item.key.data(), nullptr, 0, data.data());
        sources.source_index.push_back(static_cast<long>(item.index));
        // Last + 1, big-endian; none when the range reaches the top.
        bool carried = true;
        for (auto i = length; i-- > 0 && carried;)
            carried = ++item.end[i] == 0;
        if (!carried) {
            writer.add(end_layout, item.end.data(), nullptr, NFT_SET_ELEM_INTERVAL_END, nullptr);
            sources.source_index.push_back(static_cast<long>(item.index));
        }
    }
    writer.finish();
    sources.kernel_elements = writer.written();
    return sources;
}

namespace {

using ExprResult = std::expected<NftnlExpr, std::string>;

NftnlExpr make_expr(const char* name) {
    return NftnlExpr(nftnl_expr_alloc(name));
}

struct ExprEncoder {
    std::span<const SetIdentity> anonymous_sets;

    ExprResult operator()(const kernel::PayloadLoad& load) const {
        auto e = make_expr("payload");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_DREG, load.dreg);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_BASE,
                           load.base == kernel::PayloadBase::Network
                               ? NFT_PAYLOAD_NETWORK_HEADER
                               : NFT_PAYLOAD_TRANSPORT_HEADER);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_OFFSET, load.offset);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_LEN, load.len);
        return e;
    }
    ExprResult operator()(const kernel::MetaLoad& load) const {
        auto e = make_expr("meta");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_META_KEY, load.key);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_META_DREG, load.dreg);
        return e;
    }
    ExprResult operator()(const kernel::MetaSet& set) const {
        auto e = make_expr("meta");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_META_KEY, set.key);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_META_SREG, set.sreg);
        return e;
    }
    ExprResult operator()(const kernel::CtLoad& load) const {
        auto e = make_expr("ct");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CT_KEY, load.key);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CT_DREG, load.dreg);
        if (load.direction) nftnl_expr_set_u8(e.get(), NFTNL_EXPR_CT_DIR, *load.direction);
        return e;
    }
    ExprResult operator()(const kernel::RtLoad& load) const {
        auto e = make_expr("rt");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_RT_KEY, load.key);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_RT_DREG, load.dreg);
        return e;
    }
    ExprResult operator()(const kernel::Cmp& cmp) const {
        if (cmp.data.empty()) return std::unexpected(std::string("cmp without data"));
        auto e = make_expr("cmp");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CMP_SREG, cmp.sreg);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CMP_OP,
                           cmp.op == kernel::CmpOp::Eq ? NFT_CMP_EQ : NFT_CMP_NEQ);
        nftnl_expr_set(e.get(), NFTNL_EXPR_CMP_DATA, cmp.data.data(),
                       static_cast<std::uint32_t>(cmp.data.size()));
        return e;
    }
    ExprResult operator()(const kernel::Bitwise& bitwise) const {
        if (bitwise.mask.size() != bitwise.xor_.size() || bitwise.mask.empty())
            return std::unexpected(std::string("bitwise mask and xor differ in length"));
        auto e = make_expr("bitwise");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BITWISE_SREG, bitwise.sreg);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BITWISE_DREG, bitwise.dreg);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BITWISE_LEN,
                           static_cast<std::uint32_t>(bitwise.mask.size()));
        nftnl_expr_set(e.get(), NFTNL_EXPR_BITWISE_MASK, bitwise.mask.data(),
                       static_cast<std::uint32_t>(bitwise.mask.size()));
        nftnl_expr_set(e.get(), NFTNL_EXPR_BITWISE_XOR, bitwise.xor_.data(),
                       static_cast<std::uint32_t>(bitwise.xor_.size()));
        return e;
    }
    ExprResult operator()(const kernel::Lookup& lookup) const {
        auto e = make_expr("lookup");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LOOKUP_SREG, lookup.sreg);
        if (lookup.dreg) nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LOOKUP_DREG, *lookup.dreg);
        if (lookup.anonymous_index) {
            if (*lookup.anonymous_index >= anonymous_sets.size())
                return std::unexpected(fmt::format(
                    "lookup in anonymous set #{} the rule does not have", *lookup.anonymous_index));
            const auto& identity = anonymous_sets[*lookup.anonymous_index];
            nftnl_expr_set_str(e.get(), NFTNL_EXPR_LOOKUP_SET, identity.name.c_str());
            nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LOOKUP_SET_ID, identity.id);
        } else {
            if (lookup.set_name.empty()) return std::unexpected(std::string("lookup without set"));
            nftnl_expr_set_str(e.get(), NFTNL_EXPR_LOOKUP_SET, lookup.set_name.c_str());
        }
        if (lookup.invert) nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
        return e;
    }
    ExprResult operator()(const kernel::Hash& hash) const {
        auto e = make_expr("hash");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_HASH_TYPE, NFT_HASH_JENKINS);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_HASH_SREG, hash.sreg);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_HASH_DREG, hash.dreg);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_HASH_LEN, hash.len);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_HASH_MODULUS, hash.modulus);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_HASH_SEED, hash.seed);
        return e;
    }
    ExprResult operator()(const kernel::Immediate& immediate) const {
        auto e = make_expr("immediate");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_IMM_DREG, immediate.dreg);
        if (immediate.verdict) {
            nftnl_expr_set_u32(e.get(), NFTNL_EXPR_IMM_VERDICT,
                               verdict_code(immediate.verdict->kind));
            if (!immediate.verdict->chain.empty())
                nftnl_expr_set_str(e.get(), NFTNL_EXPR_IMM_CHAIN, immediate.verdict->chain.c_str());
        } else {
            if (immediate.data.empty())
                return std::unexpected(std::string("immediate without data"));
            nftnl_expr_set(e.get(), NFTNL_EXPR_IMM_DATA, immediate.data.data(),
                           static_cast<std::uint32_t>(immediate.data.size()));
        }
        return e;
    }
    ExprResult operator()(const kernel::Nat& nat) const {
        auto e = make_expr("nat");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_TYPE,
                           nat.type == kernel::Nat::Type::Snat ? NFT_NAT_SNAT : NFT_NAT_DNAT);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
        if (nat.addr_min) nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_REG_ADDR_MIN, *nat.addr_min);
        if (nat.addr_max) nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_REG_ADDR_MAX, *nat.addr_max);
        if (nat.proto_min)
            nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_REG_PROTO_MIN, *nat.proto_min);
        if (nat.proto_max)
            nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_REG_PROTO_MAX, *nat.proto_max);
        if (nat.flags) nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_FLAGS, nat.flags);
        return e;
    }
    ExprResult operator()(const kernel::Masquerade& masquerade) const {
        auto e = make_expr("masq");
        if (masquerade.flags) nftnl_expr_set_u32(e.get(), NFTNL_EXPR_MASQ_FLAGS, masquerade.flags);
        if (masquerade.proto_min)
            nftnl_expr_set_u32(e.get(), NFTNL_EXPR_MASQ_REG_PROTO_MIN, *masquerade.proto_min);
        if (masquerade.proto_max)
            nftnl_expr_set_u32(e.get(), NFTNL_EXPR_MASQ_REG_PROTO_MAX, *masquerade.proto_max);
        return e;
    }
    ExprResult operator()(const kernel::Byteorder& byteorder) const {
        auto e = make_expr("byteorder");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BYTEORDER_SREG, byteorder.sreg);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BYTEORDER_DREG, byteorder.dreg);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BYTEORDER_OP,
                           byteorder.to_network ? NFT_BYTEORDER_HTON : NFT_BYTEORDER_NTOH);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BYTEORDER_LEN, byteorder.len);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BYTEORDER_SIZE, byteorder.size);
        return e;
    }
    ExprResult operator()(const kernel::Counter&) const { return make_expr("counter"); }
    ExprResult operator()(const kernel::Dynset& dynset) const {
        if (dynset.set_name.empty()) return std::unexpected(std::string("dynset without set"));
        auto e = make_expr("dynset");
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_DYNSET_SREG_KEY, dynset.sreg_key);
        nftnl_expr_set_u32(
            e.get(), NFTNL_EXPR_DYNSET_OP,
            dynset.op == kernel::Dynset::Op::Add ? NFT_DYNSET_OP_ADD : NFT_DYNSET_OP_UPDATE);
        nftnl_expr_set_str(e.get(), NFTNL_EXPR_DYNSET_SET_NAME, dynset.set_name.c_str());
        if (dynset.timeout_ms != 0)
            nftnl_expr_set_u64(e.get(), NFTNL_EXPR_DYNSET_TIMEOUT, dynset.timeout_ms);
        if (dynset.connlimit_over) {
            auto connlimit = make_expr("connlimit");
            nftnl_expr_set_u32(connlimit.get(), NFTNL_EXPR_CONNLIMIT_COUNT, *dynset.connlimit_over);
            nftnl_expr_set_u32(connlimit.get(), NFTNL_EXPR_CONNLIMIT_FLAGS, NFT_CONNLIMIT_F_INV);
            // The dynset takes ownership of the inner expression.
            nftnl_expr_set(e.get(), NFTNL_EXPR_DYNSET_EXPR, connlimit.release(), 0);
        }
        return e;
    }
    ExprResult operator()(const kernel::Limit& limit) const {
        auto e = make_expr("limit");
        nftnl_expr_set_u64(e.get(), NFTNL_EXPR_LIMIT_RATE, limit.bytes_per_second);
        nftnl_expr_set_u64(e.get(), NFTNL_EXPR_LIMIT_UNIT, 1);  // per second
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LIMIT_BURST, limit.burst_bytes);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKT_BYTES);
        nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LIMIT_FLAGS, limit.over ? NFT_LIMIT_F_INV : 0);
        return e;
    }
    ExprResult operator()(const kernel::Log& log) const {
        auto e = make_expr("log");
        if (!log.prefix.empty())
            nftnl_expr_set_str(e.get(), NFTNL_EXPR_LOG_PREFIX, log.prefix.c_str());
        nftnl_expr_set_u16(e.get(), NFTNL_EXPR_LOG_GROUP, log.group);
        return e;
    }
};

}  // namespace

std::expected<NftnlRule, std::string> encode_rule(const std::string& table_name,
                                                  const std::string& chain,
                                                  const kernel::Rule& rule,
                                                  std::span<const SetIdentity> anonymous_sets) {
    NftnlRule encoded(nftnl_rule_alloc());
    auto* r = encoded.get();
    nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_IPV4);
    nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table_name.c_str());
    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain.c_str());
    ExprEncoder encoder{anonymous_sets};
    for (std::size_t i = 0; i < rule.exprs.size(); ++i) {
        auto expr = std::visit(encoder, rule.exprs[i]);
        if (!expr) return std::unexpected(fmt::format("expression #{}: {}", i, expr.error()));
        nftnl_rule_add_expr(r, expr->release());
    }
    UdataBuf buf(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    if (!rule.comment.empty() &&
        !nftnl_udata_put_strz(buf.get(), NFTNL_UDATA_RULE_COMMENT, rule.comment.c_str()))
        return std::unexpected(std::string("rule comment too long"));
    auto digest = rule_identity_digest(rule.text);
    nftnl_udata_put(buf.get(), kRuleIdentityUdataType, static_cast<std::uint32_t>(digest.size()),
                    digest.data());
    nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(buf.get()),
                        nftnl_udata_buf_len(buf.get()));
    return encoded;
}

NftnlRule encode_rule_ref(const std::string& table_name, const std::string& chain,
                          std::uint64_t handle) {
    NftnlRule encoded(nftnl_rule_alloc());
    nftnl_rule_set_u32(encoded.get(), NFTNL_RULE_FAMILY, NFPROTO_IPV4);
    nftnl_rule_set_str(encoded.get(), NFTNL_RULE_TABLE, table_name.c_str());
    nftnl_rule_set_str(encoded.get(), NFTNL_RULE_CHAIN, chain.c_str());
    nftnl_rule_set_u64(encoded.get(), NFTNL_RULE_HANDLE, handle);
    return encoded;
}

}  // namespace natctl::netlink
