#include "controller/store/typed_delta.hpp"

#include <algorithm>
#include <cassert>
#include <functional>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "controller/model/field_count.hpp"
#include "controller/model/json.hpp"
#include "controller/store/delta.hpp"

namespace natctl::store {

namespace {

using nlohmann::json;
namespace m = natctl::model;

constexpr std::size_t npos = static_cast<std::size_t>(-1);

std::string dump(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// ---- piecewise serialisation with the model's per-type writers ---------------------------
// Every object is written by model::to_json's writer for its type (DNAT entries by its text
// form, model::append_json), so the pieces are exactly what the whole document holds.

template <class T>
json array_json(const std::vector<T>& values) {
    json array = json::array();
    for (const auto& value : values)
        array.push_back(m::to_json(value));
    return array;
}

// The fields of a gateway / VPC / model other than its arrays of named objects, which the
// differ walks entry by entry. Listed by hand: the counts catch a field added to the model
// and not here (the JSON writers have their own, in model/json.cpp).
static_assert(m::field_count<m::NatGateway>() == 15, "NatGateway changed: update copy_header");
static_assert(m::field_count<m::Vpc>() == 8, "Vpc changed: update copy_header");
static_assert(m::field_count<m::Model>() == 6, "Model changed: update copy_header");

void copy_header(m::NatGateway& to, const m::NatGateway& from) {
    to.name = from.name;
    to.vpc = from.vpc;
    to.mode = from.mode;
    to.outside_interface = from.outside_interface;
    to.upstream = from.upstream;
    to.eips = from.eips;
    to.icmp_echo_reply = from.icmp_echo_reply;
    to.deletion_protection = from.deletion_protection;
    to.snat_port_range = from.snat_port_range;
    to.port_budget_per_eip = from.port_budget_per_eip;
    to.max_ports_per_instance = from.max_ports_per_instance;
    to.session_log = from.session_log;
    to.assign_eip_addresses = from.assign_eip_addresses;
}

void copy_header(m::Vpc& to, const m::Vpc& from) {
    to.name = from.name;
    to.cidr = from.cidr;
    to.interfaces = from.interfaces;
    to.system_route_table = from.system_route_table;
    to.internet_access = from.internet_access;
}

void copy_header(m::Model& to, const m::Model& from) {
    to.version = from.version;
    to.limits = from.limits;
}

template <class T>
T header_of(const T& value) {
    T header;
    copy_header(header, value);
    return header;
}

template <class T>
json header_json(const T& value) {
    return m::to_json(header_of(value));
}

template <class T>
constexpr bool composite = std::is_same_v<T, m::Vpc> || std::is_same_v<T, m::NatGateway>;

json op(const char* kind, json path) {
    json out = json::object();
    out["op"] = kind;
    out["path"] = std::move(path);
    return out;
}
json op(const char* kind, json path, json value) {
    json out = op(kind, std::move(path));
    out["value"] = std::move(value);
    return out;
}

json join(const json& path, const json& segment) {
    json out = path;
    out.push_back(segment);
    return out;
}

// The elements of `values` dumped and joined with commas, one element's JSON at a time.
template <class T>
std::string dump_array(const std::vector<T>& values) {
    std::string text = "[";
    for (const auto& value : values) {
        if (text.size() > 1) text += ',';
        text += dump(m::to_json(value));
    }
    text += ']';
    return text;
}

std::string fmt_key(const char* key) {
    return std::string("\"") + key + "\":";
}

// Writes a member's value (JSON text) at the end of `out`.
using MemberWriter = std::function<void(TextParts&)>;

// `header` dumped into `out` with each member (a placeholder null in the dump) written in
// its place by its writer.
void splice_into(TextParts& out, json header,
                 const std::vector<std::pair<const char*, MemberWriter>>& members) {
    for (const auto& member : members)
        header[member.first] = nullptr;
    const std::string text = dump(header);
    std::vector<std::pair<std::size_t, std::size_t>> placeholders;  // (offset, member)
    for (std::size_t i = 0; i < members.size(); ++i) {
        // A key is written raw, and a quote inside a string value is escaped: the pattern
        // occurs once, as the placeholder.
        std::string pattern = fmt_key(members[i].first) + "null";
        auto at = text.find(pattern);
        assert(at != std::string::npos);
        placeholders.emplace_back(at + pattern.size() - 4, i);
    }
    std::sort(placeholders.begin(), placeholders.end());
    std::string_view rest = text;
    std::size_t done = 0;
    for (auto [at, member] : placeholders) {
        out.append(rest.substr(done, at - done));
        members[member].second(out);
        done = at + 4;
    }
    out.append(rest.substr(done));
}

// `header` dumped with each placeholder member (set to null) replaced by its text.
std::string splice(json header, const std::vector<std::pair<const char*, std::string>>& arrays) {
    std::vector<std::pair<const char*, MemberWriter>> members;
    for (const auto& [key, text] : arrays)
        members.emplace_back(key, [&text](TextParts& out) { out.refer(text); });
    TextParts out;
    splice_into(out, std::move(header), members);
    return out.joined();
}

// DNAT entries, the list that grows large: written as text without a JSON value per entry.
std::string dump_array(const std::vector<m::DnatEntry>& entries) {
    std::string text = "[";
    for (const auto& entry : entries) {
        if (text.size() > 1) text += ',';
        m::append_json(text, entry);
    }
    text += ']';
    return text;
}

// The text of `array` into `out`: taken from `reuse` when it holds it, else serialised.
template <class T>
void put_array(TextParts& out, const std::vector<T>& array, ArrayTexts& reuse);

// Gateways dumped with their entry lists written as text, an entry at a time: a gateway may
// hold most of the model. The lists are parts of `out`, not copied into one string.
void put_gateways(TextParts& out, const std::vector<m::NatGateway>& gateways, ArrayTexts& reuse) {
    out.append("[");
    for (std::size_t i = 0; i < gateways.size(); ++i) {
        if (i > 0) out.append(",");
        const auto& gateway = gateways[i];
        std::vector<std::pair<const char*, MemberWriter>> lists;
        if (!gateway.snat_entries.empty())
            lists.emplace_back("snat_entries", [&](TextParts& parts) {
                put_array(parts, gateway.snat_entries, reuse);
            });
        if (!gateway.dnat_entries.empty())
            lists.emplace_back("dnat_entries", [&](TextParts& parts) {
                put_array(parts, gateway.dnat_entries, reuse);
            });
        splice_into(out, header_json(gateway), lists);
    }
    out.append("]");
}

template <class T>
void put_array(TextParts& out, const std::vector<T>& array, ArrayTexts& reuse) {
    if (auto found = reuse.find(&array); found != reuse.end()) {
        out.append(std::move(found->second));
        reuse.erase(found);
        return;
    }
    if constexpr (std::is_same_v<T, m::NatGateway>) {
        put_gateways(out, array, reuse);
    } else {
        out.adopt(dump_array(array));
    }
}

// ---- the differ ---------------------------------------------------------------------------

constexpr std::size_t small_entry_bytes = 256;  // as delta.cpp: one replace reads better
constexpr std::size_t in_place_edits = 16;      // more structural edits: rebuild the vector

// An operation, and the serialised text of its value where that is held apart (then
// `source` is the array it is the text of).
struct Operation {
    json op;
    std::optional<TextParts> value_text;
    const void* source = nullptr;
};

class Differ {
  public:
    Differ(TypedDelta& out, LargeValues values) : out_(out), values_(values) {}

    void model(m::Model& from, const m::Model& to) {
        json root = json::array();
        header(root, from, to);
        member(root, "vpcs", from.vpcs, to.vpcs);
        member(root, "eips", from.eips, to.eips);
        member(root, "nat_gateways", from.nat_gateways, to.nat_gateways);
        member(root, "ipv4_gateways", from.ipv4_gateways, to.ipv4_gateways);
        for (auto it = inverses_.rbegin(); it != inverses_.rend(); ++it) {
            if (it->value_text)
                out_.reverse_values.emplace(out_.reverse.size(), std::move(*it->value_text));
            out_.reverse.push_back(std::move(it->op));
        }
    }

  private:
    void emit(json forward, json inverse) {
        emit(Operation{std::move(forward), std::nullopt},
             Operation{std::move(inverse), std::nullopt});
    }
    void emit(Operation forward, Operation inverse) {
        if (forward.value_text) {
            out_.forward_values.emplace(out_.forward.size(), std::move(*forward.value_text));
            out_.forward_sources.emplace(out_.forward.size(), forward.source);
        }
        out_.forward.push_back(std::move(forward.op));
        inverses_.push_back(std::move(inverse));
    }

    // An operation whose value is a whole array.
    template <class T>
    Operation whole(const char* kind, json path, const std::vector<T>& value) const {
        if (values_ == LargeValues::Text) {
            TextParts text;
            ArrayTexts none;
            put_array(text, value, none);
            return {op(kind, std::move(path), nullptr), std::move(text), &value};
        }
        return {op(kind, std::move(path), array_json(value)), std::nullopt};
    }

    // Operations between two small JSON values at `path`, relative ones prefixed. Applying
    // them to a copy yields their inverses and proves them right.
    void values(const json& path, const json& a, const json& b, bool whole_if_small) {
        json relative = store::diff(a, b);
        if (relative.empty()) return;
        if (whole_if_small && relative.size() > 1 && dump(b).size() <= small_entry_bytes)
            relative = json::array({op("replace", json::array(), b)});
        json document = a;
        auto inverse = store::apply(document, relative);
        if (!inverse || document != b) {
            relative = json::array({op("replace", json::array(), b)});
            inverse = json::array({op("replace", json::array(), a)});
        }
        auto prefixed = [&](json& operation) {
            json full = path;
            for (auto& segment : operation["path"])
                full.push_back(std::move(segment));
            operation["path"] = std::move(full);
            return std::move(operation);
        };
        for (auto& operation : relative)
            out_.forward.push_back(prefixed(operation));
        // apply() returns the inverses last first; inverses_ is kept in forward order.
        for (auto it = inverse->rbegin(); it != inverse->rend(); ++it)
            inverses_.push_back({prefixed(*it), std::nullopt});
    }

    template <class T>
    void header(const json& path, T& from, const T& to) {
        T a = header_of(from);
        T b = header_of(to);
        if (a == b) return;
        values(path, header_json(from), header_json(to), false);
        out_.steps.push_back([&from, &to] { copy_header(from, to); });
    }

    template <class T>
    void element(const json& path, T& from, const T& to) {
        if constexpr (std::is_same_v<T, m::NatGateway>) {
            header(path, from, to);
            member(path, "snat_entries", from.snat_entries, to.snat_entries);
            member(path, "dnat_entries", from.dnat_entries, to.dnat_entries);
        } else if constexpr (std::is_same_v<T, m::Vpc>) {
            header(path, from, to);
            member(path, "vswitches", from.vswitches, to.vswitches);
            member(path, "instances", from.instances, to.instances);
            member(path, "route_tables", from.route_tables, to.route_tables);
        } else {
            values(path, m::to_json(from), m::to_json(to), true);
            out_.steps.push_back([&from, &to] { from = to; });
        }
    }

    // An array model::to_json omits when empty.
    template <class T>
    void member(const json& object, const char* key, std::vector<T>& from,
                const std::vector<T>& to) {
        if (from.empty() && to.empty()) return;
        json path = join(object, key);
        if (from.empty()) {
            emit(whole("add", path, to), Operation{op("remove", path), std::nullopt});
        } else if (to.empty()) {
            emit(Operation{op("remove", path), std::nullopt}, whole("add", path, from));
        } else {
            array(path, from, to);
            return;
        }
        out_.steps.push_back([&from, &to] { from = to; });
    }

    template <class T>
    void array(const json& path, std::vector<T>& from, const std::vector<T>& to) {
        const std::size_t n = from.size();
        const std::size_t k = to.size();
        // Kept pairs (from index, to index) that may differ, in order.
        std::vector<std::pair<std::size_t, std::size_t>> pairs;
        auto keep = [&](std::size_t i, std::size_t j) {
            if constexpr (composite<T>) {
                pairs.emplace_back(i, j);  // compared by the recursion, field by field
            } else {
                if (!(from[i] == to[j])) pairs.emplace_back(i, j);
            }
        };
        const std::size_t shorter = std::min(n, k);
        std::size_t prefix = 0;
        while (prefix < shorter && from[prefix].name == to[prefix].name)
            keep(prefix, prefix), ++prefix;
        std::size_t suffix = 0;
        while (suffix < shorter - prefix && from[n - 1 - suffix].name == to[k - 1 - suffix].name) {
            ++suffix;
        }
        // Where they diverge: match by name, keep the longest run in the same order.
        const std::size_t from_end = n - suffix;
        const std::size_t to_end = k - suffix;
        std::vector<bool> from_kept(from_end - prefix, false);
        std::vector<bool> to_kept(to_end - prefix, false);
        std::vector<std::pair<std::size_t, std::size_t>> middle;
        if (prefix < from_end && prefix < to_end) {
            std::unordered_map<std::string_view, std::size_t> names;
            names.reserve(from_end - prefix);
            for (std::size_t i = prefix; i < from_end; ++i) {
                auto [it, inserted] = names.emplace(from[i].name, i);
                if (!inserted) it->second = npos;  // ambiguous: removed and added
            }
            std::vector<std::pair<std::size_t, std::size_t>> candidates;
            for (std::size_t j = prefix; j < to_end; ++j) {
                auto found = names.find(to[j].name);
                if (found == names.end() || found->second == npos) continue;
                candidates.emplace_back(found->second, j);
                found->second = npos;  // a duplicate in `to` is an add
            }
            middle = increasing_run(candidates);
        }
        for (auto [i, j] : middle) {
            from_kept[i - prefix] = true;
            to_kept[j - prefix] = true;
            keep(i, j);
        }
        for (std::size_t s = suffix; s > 0; --s)
            keep(n - s, k - s);

        const std::size_t kept = prefix + suffix + middle.size();
        const std::size_t removed = n - kept;
        const std::size_t added = k - kept;
        if (removed + added > kept) {
            // Mostly new content: one replace is smaller than an operation per entry.
            emit(whole("replace", path, to), whole("replace", path, from));
            out_.steps.push_back([&from, &to] { from = to; });
            return;
        }
        // Changes first, at their indices in `from`; then removes, last first, at the same
        // indices; then adds in ascending order at their final indices.
        for (auto [i, j] : pairs)
            element(join(path, i), from[i], to[j]);
        std::vector<std::size_t> removes;
        std::vector<std::size_t> adds;
        for (std::size_t i = from_end; i-- > prefix;) {
            if (from_kept[i - prefix]) continue;
            removes.push_back(i);
            json at = join(path, i);
            emit(op("remove", at), op("add", at, m::to_json(from[i])));
        }
        for (std::size_t j = prefix; j < to_end; ++j) {
            if (to_kept[j - prefix]) continue;
            adds.push_back(j);
            json at = join(path, j);
            emit(op("add", at, m::to_json(to[j])), op("remove", at));
        }
        if (removes.empty() && adds.empty()) return;
        if (removes.size() + adds.size() > in_place_edits) {
            out_.steps.push_back([&from, &to] { from = to; });
            return;
        }
        out_.steps.push_back([&from, &to, removes = std::move(removes), adds = std::move(adds)] {
            for (std::size_t i : removes)
                from.erase(from.begin() + static_cast<std::ptrdiff_t>(i));
            for (std::size_t j : adds)
                from.insert(from.begin() + static_cast<std::ptrdiff_t>(j), to[j]);
        });
    }

    // The longest subsequence of `pairs` (in `to` order) whose `from` indices increase.
    static std::vector<std::pair<std::size_t, std::size_t>> increasing_run(
        const std::vector<std::pair<std::size_t, std::size_t>>& pairs) {
        std::vector<std::size_t> tails;  // index into pairs of the smallest tail per length
        std::vector<std::size_t> previous(pairs.size(), npos);
        for (std::size_t p = 0; p < pairs.size(); ++p) {
            auto at = std::lower_bound(
                tails.begin(), tails.end(), pairs[p].first,
                [&](std::size_t tail, std::size_t value) { return pairs[tail].first < value; });
            if (at != tails.begin()) previous[p] = *(at - 1);
            if (at == tails.end()) {
                tails.push_back(p);
            } else {
                *at = p;
            }
        }
        std::vector<std::pair<std::size_t, std::size_t>> run(tails.size());
        std::size_t p = tails.empty() ? npos : tails.back();
        for (std::size_t r = run.size(); r-- > 0; p = previous[p])
            run[r] = pairs[p];
        return run;
    }

    TypedDelta& out_;
    LargeValues values_;
    std::vector<Operation> inverses_;  // in the order of the forward operations
};

// `ops` dumped, each held-apart value (referenced) spliced in where its operation holds
// null (the last member: nlohmann sorts "op" < "path" < "value").
TextParts delta_parts(const json& ops, const std::map<std::size_t, TextParts>& values) {
    TextParts text;
    if (values.empty()) {
        text.adopt(dump(ops));
        return text;
    }
    text.append("[");
    for (std::size_t i = 0; i < ops.size(); ++i) {
        if (i > 0) text.append(",");
        auto found = values.find(i);
        if (found == values.end()) {
            text.append(dump(ops[i]));
            continue;
        }
        std::string head = dump(ops[i]);
        constexpr std::string_view placeholder = "null}";
        assert(head.ends_with(placeholder));
        head.resize(head.size() - placeholder.size());
        text.append(head);
        text.refer(found->second);
        text.append("}");
    }
    text.append("]");
    return text;
}

}  // namespace

TypedDelta typed_diff(model::Model& from, const model::Model& to, LargeValues values) {
    TypedDelta out;
    Differ(out, values).model(from, to);
    return out;
}

std::string TypedDelta::forward_text() const {
    return delta_parts(forward, forward_values).joined();
}
std::string TypedDelta::reverse_text() const {
    return delta_parts(reverse, reverse_values).joined();
}
TextParts TypedDelta::forward_parts() const {
    return delta_parts(forward, forward_values);
}

ArrayTexts TypedDelta::take_forward_arrays() {
    ArrayTexts arrays;
    for (auto& [index, text] : forward_values)
        arrays.emplace(forward_sources.at(index), std::move(text));
    forward_values.clear();
    forward_sources.clear();
    return arrays;
}

std::string dump_with(json object,
                      const std::vector<std::pair<const char*, std::string>>& members) {
    return splice(std::move(object), members);
}

TextParts dump_with(json object, std::vector<std::pair<const char*, TextParts>> members) {
    std::vector<std::pair<const char*, MemberWriter>> writers;
    for (auto& [key, parts] : members)
        writers.emplace_back(key, [&parts](TextParts& out) { out.append(std::move(parts)); });
    TextParts out;
    splice_into(out, std::move(object), writers);
    return out;
}

TextParts dump_model_parts(const model::Model& model, ArrayTexts reuse) {
    std::vector<std::pair<const char*, MemberWriter>> arrays;
    auto add = [&](const char* key, const auto& array) {
        if (!array.empty())
            arrays.emplace_back(key, [&](TextParts& out) { put_array(out, array, reuse); });
    };
    add("vpcs", model.vpcs);
    add("eips", model.eips);
    add("nat_gateways", model.nat_gateways);
    add("ipv4_gateways", model.ipv4_gateways);
    TextParts out;
    splice_into(out, header_json(model), arrays);
    return out;
}

std::string dump_model(const model::Model& model) {
    return dump_model_parts(model).joined();
}

}  // namespace natctl::store
