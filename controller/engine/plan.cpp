#include "controller/engine/plan.hpp"

#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <deque>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>

#include "controller/model/addr.hpp"
#include "controller/model/change.hpp"
#include "controller/model/json.hpp"

namespace natctl::engine {
namespace {

using nlohmann::json;

enum class Kind {
    Vpc,
    VSwitch,
    Instance,
    RouteTable,
    Route,
    Eip,
    NatGateway,
    SnatEntry,
    DnatEntry,
    Ipv4Gateway,
    GatewayRoute,
    Limits
};

const char* kind_name(Kind kind) {
    switch (kind) {
        case Kind::Vpc:
            return "vpc";
        case Kind::VSwitch:
            return "vswitch";
        case Kind::Instance:
            return "instance";
        case Kind::RouteTable:
            return "route_table";
        case Kind::Route:
            return "route";
        case Kind::Eip:
            return "eip";
        case Kind::NatGateway:
            return "nat_gateway";
        case Kind::SnatEntry:
            return "snat_entry";
        case Kind::DnatEntry:
            return "dnat_entry";
        case Kind::Ipv4Gateway:
            return "ipv4_gateway";
        case Kind::GatewayRoute:
            return "gateway_route";
        case Kind::Limits:
            return "limits";
    }
    return "";
}

using Ref =
    std::variant<const model::Vpc*, const model::VSwitch*, const model::Instance*,
                 const model::RouteTable*, const model::SystemRouteTable*, const model::Route*,
                 const model::Eip*, const model::NatGateway*, const model::SnatEntry*,
                 const model::DnatEntry*, const model::Ipv4Gateway*, const model::GatewayRoute*,
                 const model::Limits*>;

// Where an object sits in model::to_json's document: up to three "key[index]" steps (an
// index of npos is a key alone: "system_route_table", "limits").
struct Location {
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    struct Step {
        const char* key = nullptr;
        std::size_t index = npos;
    };
    std::array<Step, 3> steps{};

    Location then(const char* key, std::size_t index = npos) const {
        Location out = *this;
        for (auto& step : out.steps)
            if (step.key == nullptr) {
                step = {key, index};
                break;
            }
        return out;
    }

    std::string text() const {
        std::string out;
        for (const auto& step : steps) {
            if (step.key == nullptr) break;
            if (!out.empty()) out += '.';
            out += step.key;
            if (step.index != npos) out += fmt::format("[{}]", step.index);
        }
        return out;
    }
};

// One object of a model, read in place: its kind, name, parent (the enclosing VPC or gateway
// for the kinds whose plan identity includes it) and where it sits.
struct Item {
    Kind kind;
    std::string_view name;
    Ref ref;
    std::string_view parent;  // empty for the kinds without one
    Location where;

    PlanObject object() const { return {kind_name(kind), std::string(name), where.text()}; }
};

// Equal as the plan compares: in model::to_json's form. Equal values have equal forms; the
// forms of different values are compared only for the few objects that differ.
template <class T>
bool same_form(const T& a, const T& b) {
    return a == b || to_json(a) == to_json(b);
}

// Whether two objects of the same kind and name have the same own fields (children apart)
// and the same parent.
bool same_own(const Item& a, const Item& b) {
    if (a.parent != b.parent) return false;
    return std::visit(
        [](auto* x, auto* y) -> bool {
            using X = std::remove_cvref_t<decltype(*x)>;
            using Y = std::remove_cvref_t<decltype(*y)>;
            if constexpr (std::is_same_v<X, model::RouteTable> &&
                          std::is_same_v<Y, model::RouteTable>) {
                return true;  // a route table's own field is its name
            } else if constexpr (std::is_same_v<X, model::SystemRouteTable> &&
                                 std::is_same_v<Y, model::SystemRouteTable>) {
                return x->name == y->name;  // absent and present differ in JSON
            } else if constexpr (std::is_same_v<X, model::SystemRouteTable> &&
                                 std::is_same_v<Y, model::RouteTable>) {
                return x->name.has_value();
            } else if constexpr (std::is_same_v<X, model::RouteTable> &&
                                 std::is_same_v<Y, model::SystemRouteTable>) {
                return y->name.has_value();
            } else if constexpr (!std::is_same_v<X, Y>) {
                return false;  // one kind has one type, the route tables apart
            } else if constexpr (std::is_same_v<X, model::Vpc> ||
                                 std::is_same_v<X, model::NatGateway>) {
                return same_form(own_fields(*x), own_fields(*y));
            } else if constexpr (std::is_same_v<X, model::Ipv4Gateway> ||
                                 std::is_same_v<X, model::GatewayRoute>) {
                // No JSON form of its own; the typed fields are what model::to_json writes.
                if constexpr (std::is_same_v<X, model::Ipv4Gateway>)
                    return own_fields(*x) == own_fields(*y);
                else
                    return *x == *y;
            } else {
                return same_form(*x, *y);
            }
        },
        a.ref, b.ref);
}

// Every object of a model, in the document order of model::to_json (which leaves empty
// lists out, so an index in a vector is its index in the document).
class Collector {
  public:
    std::vector<Item> items;

    // `unwalked_dnat`: per gateway (by index), whether its DNAT entries are left out; empty:
    // none are.
    explicit Collector(const model::Model& model, const std::vector<bool>& unwalked_dnat = {}) {
        for (std::size_t v = 0; v < model.vpcs.size(); ++v) {
            const auto& vpc = model.vpcs[v];
            const Location at = Location{}.then("vpcs", v);
            add(Kind::Vpc, vpc.name, &vpc, {}, at);
            each(vpc.vswitches, at, "vswitches", [&](const auto& item, const Location& where) {
                add(Kind::VSwitch, item.name, &item, vpc.name, where);
            });
            each(vpc.instances, at, "instances", [&](const auto& item, const Location& where) {
                add(Kind::Instance, item.name, &item, vpc.name, where);
            });
            each(vpc.route_tables, at, "route_tables",
                 [&](const auto& table, const Location& where) {
                     route_table(table.name, &table, table.routes, vpc.name, where);
                 });
            if (const auto& system = vpc.system_route_table) {
                std::string_view name =
                    system->name ? std::string_view(*system->name) : keep(vpc.name + "/system");
                route_table(name, &*system, system->routes, vpc.name,
                            at.then("system_route_table"));
            }
        }
        each(model.eips, {}, "eips", [&](const auto& eip, const Location& where) {
            add(Kind::Eip, eip.name, &eip, {}, where);
        });
        each(model.nat_gateways, {}, "nat_gateways",
             [&](const auto& gateway, const Location& where) {
                 add(Kind::NatGateway, gateway.name, &gateway, {}, where);
                 each(gateway.snat_entries, where, "snat_entries",
                      [&](const auto& entry, const Location& at) {
                          add(Kind::SnatEntry, entry.name, &entry, gateway.name, at);
                      });
                 const bool walked = unwalked_dnat.empty() || !unwalked_dnat[where.steps[0].index];
                 if (walked)
                     each(gateway.dnat_entries, where, "dnat_entries",
                          [&](const auto& entry, const Location& at) {
                              add(Kind::DnatEntry, entry.name, &entry, gateway.name, at);
                          });
             });
        each(model.ipv4_gateways, {}, "ipv4_gateways",
             [&](const auto& gateway, const Location& where) {
                 add(Kind::Ipv4Gateway, gateway.name, &gateway, {}, where);
                 each(gateway.gateway_route_table, where, "gateway_route_table",
                      [&](const auto& route, const Location& at) {
                          add(Kind::GatewayRoute, route_name(gateway.name, route.destination),
                              &route, {}, at);
                      });
             });
        if (model.limits)
            add(Kind::Limits, "limits", &*model.limits, {}, Location{}.then("limits"));
    }

  private:
    template <class T, class Visit>
    static void each(const std::vector<T>& values, const Location& parent, const char* key,
                     Visit visit) {
        for (std::size_t index = 0; index < values.size(); ++index)
            visit(values[index], parent.then(key, index));
    }

    template <class Table>
    void route_table(std::string_view name, const Table* table,
                     const std::vector<model::Route>& routes, std::string_view vpc,
                     const Location& where) {
        add(Kind::RouteTable, name, table, vpc, where);
        each(routes, where, "routes", [&](const auto& route, const Location& at) {
            add(Kind::Route, route_name(name, route.destination), &route, {}, at);
        });
    }

    std::string_view route_name(std::string_view table, const model::Cidr& destination) {
        return keep(fmt::format("{}:{}", table, model::to_string(destination)));
    }

    // Composite names live as long as the collector (a deque never moves its elements).
    std::string_view keep(std::string name) { return names_.emplace_back(std::move(name)); }

    void add(Kind kind, std::string_view name, Ref ref, std::string_view parent,
             const Location& where) {
        items.push_back({kind, name, ref, parent, where});
    }

    std::deque<std::string> names_;
};

struct Key {
    Kind kind;
    std::string_view name;
    bool operator==(const Key&) const = default;
};

struct KeyHash {
    std::size_t operator()(const Key& key) const {
        return std::hash<std::string_view>{}(key.name) * 31 + static_cast<std::size_t>(key.kind);
    }
};

// The first object of each kind and name (later duplicates are never matched).
std::unordered_map<Key, const Item*, KeyHash> index_of(const std::vector<Item>& items) {
    std::unordered_map<Key, const Item*, KeyHash> index;
    index.reserve(items.size());
    for (const auto& item : items)
        index.emplace(Key{item.kind, item.name}, &item);
    return index;
}

json objects_json(const std::vector<PlanObject>& objects) {
    json out = json::array();
    for (const auto& object : objects)
        out.push_back({{"kind", object.kind}, {"name", object.name}, {"path", object.path}});
    return out;
}

Plan plan_of(const Collector& old_objects, const Collector& new_objects) {
    const auto old_index = index_of(old_objects.items);
    Plan plan;
    for (const auto& item : new_objects.items) {
        auto found = old_index.find({item.kind, item.name});
        if (found == old_index.end())
            plan.added.push_back(item.object());
        else if (!same_own(*found->second, item))
            plan.changed.push_back(item.object());
    }
    if (old_objects.items.empty()) return plan;
    const auto new_index = index_of(new_objects.items);
    for (const auto& item : old_objects.items)
        if (!new_index.contains({item.kind, item.name})) plan.removed.push_back(item.object());
    return plan;
}

}  // namespace

Plan diff(const model::Model& before, const model::Model& after) {
    return plan_of(Collector(before), Collector(after));
}

Plan diff_of_valid(const model::Model& before, const model::Model& after) {
    std::unordered_map<std::string_view, std::size_t> before_by_name;
    for (std::size_t g = 0; g < before.nat_gateways.size(); ++g)
        before_by_name.emplace(before.nat_gateways[g].name, g);
    std::vector<bool> unwalked_before(before.nat_gateways.size());
    std::vector<bool> unwalked_after(after.nat_gateways.size());
    for (std::size_t g = 0; g < after.nat_gateways.size(); ++g) {
        const auto& gateway = after.nat_gateways[g];
        auto found = before_by_name.find(gateway.name);
        if (found == before_by_name.end() ||
            before.nat_gateways[found->second].dnat_entries != gateway.dnat_entries)
            continue;
        unwalked_after[g] = true;
        unwalked_before[found->second] = true;
    }
    return plan_of(Collector(before, unwalked_before), Collector(after, unwalked_after));
}

namespace {

template <class Entry>
Plan diff_of_change(const model::GatewayEntryChange<Entry>& change, const char* kind) {
    Plan plan;
    auto object = [&](const Entry& entry) {
        return PlanObject{kind, entry.name,
                          fmt::format("nat_gateways[{}].{}[{}]", change.gateway,
                                      model::EntryList<Entry>::name, change.position)};
    };
    if (change.before && change.after) {
        // Compared as diff() compares: in JSON form (the parent is the same gateway).
        if (to_json(*change.before) != to_json(*change.after))
            plan.changed.push_back(object(*change.after));
    } else if (change.after) {
        plan.added.push_back(object(*change.after));
    } else if (change.before) {
        plan.removed.push_back(object(*change.before));
    }
    return plan;
}

}  // namespace

Plan diff(const model::DnatEntryChange& change) {
    return diff_of_change(change, "dnat_entry");
}

Plan diff(const model::SnatEntryChange& change) {
    return diff_of_change(change, "snat_entry");
}

json to_json(const Plan& plan) {
    json out = {{"added", objects_json(plan.added)},
                {"changed", objects_json(plan.changed)},
                {"removed", objects_json(plan.removed)}};
    if (!plan.notes.empty()) out["notes"] = plan.notes;
    return out;
}

}  // namespace natctl::engine
