#include "controller/compiler/render.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include "controller/model/addr.hpp"

namespace natctl::compiler {
namespace {

using kernel::Element;
using kernel::FieldType;
using kernel::Scalar;

std::string address_text(std::uint32_t address) {
    return model::to_string(model::Ipv4{address});
}

std::uint32_t number(const Scalar& value) {
    const auto* held = std::get_if<std::uint32_t>(&value);
    return held ? *held : 0;
}
std::string name(const Scalar& value) {
    const auto* held = std::get_if<std::string>(&value);
    return held ? *held : std::string{};
}

// nft's names of the conntrack state bits, as it lists them: "new", "established,related".
std::string ct_state_text(std::uint32_t bits) {
    static constexpr std::pair<std::uint32_t, const char*> kNames[] = {{0x1, "invalid"},
                                                                       {0x2, "established"},
                                                                       {0x4, "related"},
                                                                       {0x8, "new"},
                                                                       {0x40, "untracked"}};
    std::string text;
    for (const auto& [bit, word] : kNames) {
        if ((bits & bit) == 0) continue;
        if (!text.empty()) text += ",";
        text += word;
        bits &= ~bit;
    }
    if (bits != 0 || text.empty()) text += fmt::format("{}0x{:08x}", text.empty() ? "" : ",", bits);
    return text;
}

const char* type_name(FieldType type) {
    switch (type) {
        case FieldType::Verdict:
            return "verdict";
        case FieldType::Integer32:
            return "integer";
        case FieldType::Ipv4:
            return "ipv4_addr";
        case FieldType::InetProto:
            return "inet_proto";
        case FieldType::InetService:
            return "inet_service";
        case FieldType::Mark:
            return "mark";
        case FieldType::Realm:
            return "realm";
        case FieldType::CtState:
            return "ct_state";
        case FieldType::IfName:
            return "ifname";
    }
    return "integer";
}

std::string field_text(FieldType type, const Scalar& value) {
    switch (type) {
        case FieldType::Ipv4:
            return address_text(number(value));
        case FieldType::InetProto:
            if (auto known = kernel::protocol_name(number(value))) return std::string(*known);
            return fmt::format("{}", number(value));
        case FieldType::Mark:
            return fmt::format("0x{:08x}", number(value));
        case FieldType::CtState:
            return ct_state_text(number(value));
        case FieldType::IfName:
            return fmt::format("\"{}\"", name(value));
        default:
            return fmt::format("{}", number(value));
    }
}

// nft prints an address range that is a whole prefix as the prefix (a /32 as the bare
// address), anything else as first-last.
std::string address_range_text(std::uint32_t first, std::uint32_t last) {
    const std::uint64_t size = std::uint64_t{last} - first + 1;
    if (std::has_single_bit(size) && (first & (size - 1)) == 0) {
        const int length = 32 - std::countr_zero(size);
        if (length == 32) return address_text(first);
        return fmt::format("{}/{}", address_text(first), length);
    }
    return fmt::format("{}-{}", address_text(first), address_text(last));
}

std::string join_fields(const std::vector<FieldType>& types, const kernel::FieldList& values,
                        const kernel::FieldList& ends) {
    std::string text;
    for (std::size_t index = 0; index < types.size() && index < values.size(); ++index) {
        if (index > 0) text += " . ";
        const bool ranged = index < ends.size() && ends[index] != values[index];
        if (ranged && types[index] == FieldType::Ipv4)
            text += address_range_text(number(values[index]), number(ends[index]));
        else if (!ends.empty() && types[index] == FieldType::Ipv4)
            text += address_range_text(number(values[index]), number(values[index]));
        else if (ranged)
            text += field_text(types[index], values[index]) + "-" +
                    field_text(types[index], ends[index]);
        else
            text += field_text(types[index], values[index]);
    }
    return text;
}

std::string verdict_text(const kernel::Verdict& verdict) {
    switch (verdict.kind) {
        case kernel::Verdict::Kind::Accept:
            return "accept";
        case kernel::Verdict::Kind::Drop:
            return "drop";
        case kernel::Verdict::Kind::Return:
            return "return";
        case kernel::Verdict::Kind::Jump:
            return "jump " + verdict.chain;
        case kernel::Verdict::Kind::Goto:
            return "goto " + verdict.chain;
    }
    return "accept";
}

std::string element_text(const kernel::Set& set, const Element& element) {
    std::string text = join_fields(set.key, element.key, element.key_end);
    if (element.verdict) return text + " : " + verdict_text(*element.verdict);
    if (set.is_map()) text += " : " + join_fields(set.data, element.data, element.data_end);
    return text;
}

// The bytes a field occupies in an nft register: addresses and ports in network order,
// other numbers in host order, each field padded to 4 bytes.
void append_register_bytes(std::vector<std::uint8_t>& out, FieldType type, const Scalar& value) {
    const std::uint32_t held = number(value);
    switch (type) {
        case FieldType::Ipv4:
            for (int shift = 24; shift >= 0; shift -= 8)
                out.push_back(static_cast<std::uint8_t>(held >> shift));
            return;
        case FieldType::InetService:
            out.insert(out.end(), {static_cast<std::uint8_t>(held >> 8),
                                   static_cast<std::uint8_t>(held), 0, 0});
            return;
        case FieldType::InetProto:
            out.insert(out.end(), {static_cast<std::uint8_t>(held), 0, 0, 0});
            return;
        case FieldType::IfName: {
            std::string text = name(value);
            text.resize(16, '\0');
            out.insert(out.end(), text.begin(), text.end());
            return;
        }
        default: {
            std::uint8_t bytes[4];
            std::memcpy(bytes, &held, 4);
            out.insert(out.end(), bytes, bytes + 4);
        }
    }
}

// nft sorts listed elements by their value as it holds them: a single typed field by its
// number (an interface name as the little-endian number of its bytes), a concatenation as
// the little-endian number of its raw register bytes. Concatenated interval sets are not
// sorted: the kernel returns them in insertion order.
std::vector<std::uint8_t> listing_order_key(const kernel::Set& set, const Element& element) {
    std::vector<std::uint8_t> bytes;
    if (set.key.size() == 1 && set.key.front() != FieldType::IfName) {
        const std::uint32_t value = element.key.empty() ? 0 : number(element.key.front());
        for (int shift = 24; shift >= 0; shift -= 8)
            bytes.push_back(static_cast<std::uint8_t>(value >> shift));
        return bytes;
    }
    for (std::size_t index = 0; index < set.key.size() && index < element.key.size(); ++index)
        append_register_bytes(bytes, set.key[index], element.key[index]);
    std::reverse(bytes.begin(), bytes.end());
    return bytes;
}

std::vector<const Element*> listing_order(const kernel::Set& set) {
    std::vector<const Element*> ordered;
    for (const auto& element : set.elements)
        ordered.push_back(&element);
    if (set.interval && set.key.size() > 1) return ordered;
    std::stable_sort(ordered.begin(), ordered.end(), [&](const Element* a, const Element* b) {
        return listing_order_key(set, *a) < listing_order_key(set, *b);
    });
    return ordered;
}

std::string render_set(const kernel::Set& set) {
    std::string text = fmt::format("\t{} {} {{\n", set.is_map() ? "map" : "set", set.name);
    std::string type;
    for (std::size_t index = 0; index < set.key.size(); ++index)
        type += (index > 0 ? " . " : "") + std::string(type_name(set.key[index]));
    if (set.is_map()) {
        type += " :";
        for (std::size_t index = 0; index < set.data.size(); ++index)
            type += (index > 0 ? " . " : " ") + std::string(type_name(set.data[index]));
    }
    text += fmt::format("\t\ttype {}\n", type);
    if (set.size != 0) text += fmt::format("\t\tsize {}\n", set.size);
    std::vector<const char*> flags;
    if (set.interval) flags.push_back("interval");
    if (set.dynamic) flags.push_back("dynamic");
    if (set.timeout) flags.push_back("timeout");
    if (!flags.empty()) text += fmt::format("\t\tflags {}\n", fmt::join(flags, ","));
    if (!set.comment.empty()) text += fmt::format("\t\tcomment \"{}\"\n", set.comment);
    if (!set.elements.empty()) {
        // nft puts two single-address elements on a line, conntrack states (the HA gate's
        // `invalid, new`) on one line, every other kind one per line.
        const bool single = set.key.size() == 1;
        const std::size_t per_line = single && set.key.front() == FieldType::CtState ? 8
                                     : single && set.key.front() == FieldType::Ipv4  ? 2
                                                                                     : 1;
        text += "\t\telements = { ";
        const auto ordered = listing_order(set);
        for (std::size_t index = 0; index < ordered.size(); ++index) {
            if (index > 0) text += index % per_line == 0 ? ",\n\t\t\t     " : ", ";
            text += element_text(set, *ordered[index]);
        }
        text += " }\n";
    }
    return text + "\t}\n";
}

std::string priority_text(const kernel::BaseChain& base) {
    struct Named {
        const char* name;
        int value;
        const char* only_hook;
    };
    static constexpr Named kNames[] = {
        {"raw", -300, nullptr}, {"mangle", -150, nullptr}, {"dstnat", -100, "prerouting"},
        {"filter", 0, nullptr}, {"security", 50, nullptr}, {"srcnat", 100, "postrouting"}};
    for (const auto& named : kNames)
        if (named.value == base.priority && (!named.only_hook || base.hook == named.only_hook))
            return named.name;
    // nft names an offset from a named priority within 10 of it (`srcnat + 10`).
    for (const auto& named : kNames) {
        if (named.only_hook && base.hook != named.only_hook) continue;
        const int offset = base.priority - named.value;
        if (offset > 0 && offset <= 10) return fmt::format("{} + {}", named.name, offset);
        if (offset < 0 && offset >= -10) return fmt::format("{} - {}", named.name, -offset);
    }
    return fmt::format("{}", base.priority);
}

std::string render_chain(const kernel::Chain& chain) {
    std::string text = fmt::format("\tchain {} {{\n", chain.name);
    if (!chain.comment.empty()) text += fmt::format("\t\tcomment \"{}\"\n", chain.comment);
    if (chain.base)
        text += fmt::format("\t\ttype {} hook {} priority {}; policy {};\n", chain.base->type,
                            chain.base->hook, priority_text(*chain.base),
                            chain.base->policy_accept ? "accept" : "drop");
    for (const auto& rule : chain.rules) {
        text += "\t\t" + rule.text;
        if (!rule.comment.empty()) text += fmt::format(" comment \"{}\"", rule.comment);
        text += "\n";
    }
    return text + "\t}\n";
}

std::string prefix_text(const kernel::Prefix& prefix) {
    return fmt::format("{}/{}", address_text(prefix.address), prefix.length);
}

std::string table_text(std::uint32_t table) {
    return table == 254 ? std::string("main") : fmt::format("{}", table);
}

}  // namespace

std::string render_table(const kernel::Table& table) {
    std::vector<std::string> blocks;
    for (const auto& set : table.sets)
        blocks.push_back(render_set(set));
    for (const auto& chain : table.chains)
        blocks.push_back(render_chain(chain));
    std::string text = fmt::format("table ip {} {{\n", table.name);
    for (std::size_t index = 0; index < blocks.size(); ++index) {
        if (index > 0) text += "\n";
        text += blocks[index];
    }
    return text + "}\n";
}

std::string render_ip_commands(const kernel::DesiredState& state) {
    std::string text;
    for (const auto& rule : state.rules) {
        text += fmt::format("ip rule add priority {}", rule.priority);
        if (rule.from) text += " from " + prefix_text(*rule.from);
        if (rule.to) text += " to " + prefix_text(*rule.to);
        if (rule.fwmark) {
            text += fmt::format(" fwmark 0x{:x}", *rule.fwmark);
            if (rule.fwmask) text += fmt::format("/0x{:x}", *rule.fwmask);
        }
        if (!rule.iif.empty()) text += " iif " + rule.iif;
        text +=
            fmt::format(" lookup {} protocol {}\n", table_text(rule.table), kernel::kRouteProtocol);
    }
    for (const auto& route : state.routes) {
        text += "ip route add ";
        if (route.type == kernel::Route::Type::Blackhole) text += "blackhole ";
        if (route.type == kernel::Route::Type::Unreachable) text += "unreachable ";
        text += route.destination.length == 0 && route.destination.address == 0
                    ? "default"
                    : prefix_text(route.destination);
        if (route.gateway) text += " via " + address_text(*route.gateway);
        if (!route.dev.empty()) text += " dev " + route.dev;
        text += fmt::format(" table {} proto {}", table_text(route.table), kernel::kRouteProtocol);
        if (route.realm != 0) text += fmt::format(" realm {}", route.realm);
        if (route.metric != 0) text += fmt::format(" metric {}", route.metric);
        text += "\n";
    }
    for (const auto& address : state.addresses)
        text += fmt::format("ip address add {}/{} dev {}\n", address_text(address.address),
                            address.prefix_length, address.dev);
    return text;
}

std::string render(const kernel::DesiredState& state) {
    std::string text =
        "# natctl: the kernel state compiled from a model (docs/KERNEL-LAYOUT.md).\n"
        "# Load with `nft -f` where table ip natctl does not exist yet; the policy rules,\n"
        "# routes and addresses natctl programs follow as `ip` commands (natctl also tags\n"
        "# the addresses with IFA_PROTO 147, which iproute2 6.1 cannot set).\n\n";
    text += render_table(state.table);
    const std::string commands = render_ip_commands(state);
    if (!commands.empty()) {
        text += "\n";
        std::size_t start = 0;
        while (start < commands.size()) {
            const std::size_t end = commands.find('\n', start);
            text += "# " + commands.substr(start, end - start) + "\n";
            start = end + 1;
        }
    }
    return text;
}

}  // namespace natctl::compiler
