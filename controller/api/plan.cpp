#include "controller/api/plan.hpp"

#include <fmt/format.h>

#include <map>
#include <utility>

#include "controller/api/objects.hpp"
#include "controller/model/json.hpp"

namespace natctl::api {
namespace {

using nlohmann::json;

struct Entry {
    PlanObject object;
    json own;  // the object's fields without its children, plus its parent's name
};

// Every object of a canonical document (model::to_json), in document order. Working on the
// JSON form keeps the comparison exact without a hand-written equality per kind.
class Collector {
  public:
    std::vector<Entry> entries;

    void collect(const json& document) {
        for_each(document, "vpcs", "", [&](const json& vpc, const std::string& path) {
            const std::string name = vpc.at("name");
            add("vpc", name, path,
                without(vpc, {"vswitches", "instances", "route_tables", "system_route_table"}));
            for_each(vpc, "vswitches", path, [&](const json& item, const std::string& at) {
                add("vswitch", item.at("name"), at, with_parent(item, name));
            });
            for_each(vpc, "instances", path, [&](const json& item, const std::string& at) {
                add("instance", item.at("name"), at, with_parent(item, name));
            });
            for_each(vpc, "route_tables", path, [&](const json& table, const std::string& at) {
                route_table(table.at("name"), table, at, name);
            });
            if (auto system = vpc.find("system_route_table"); system != vpc.end())
                route_table(system->value("name", name + "/system"), *system,
                            path + ".system_route_table", name);
        });
        for_each(document, "eips", "", [&](const json& eip, const std::string& path) {
            add("eip", eip.at("name"), path, eip);
        });
        for_each(document, "nat_gateways", "", [&](const json& gateway, const std::string& path) {
            const std::string name = gateway.at("name");
            add("nat_gateway", name, path, without(gateway, {"snat_entries", "dnat_entries"}));
            for (const char* kind : {"snat_entries", "dnat_entries"})
                for_each(gateway, kind, path, [&](const json& entry, const std::string& at) {
                    add(kind[0] == 's' ? "snat_entry" : "dnat_entry", entry.at("name"), at,
                        with_parent(entry, name));
                });
        });
        for_each(document, "ipv4_gateways", "", [&](const json& gateway, const std::string& path) {
            const std::string name = gateway.at("name");
            add("ipv4_gateway", name, path, without(gateway, {"gateway_route_table"}));
            for_each(gateway, "gateway_route_table", path,
                     [&](const json& route, const std::string& at) {
                         add("gateway_route",
                             fmt::format("{}:{}", name, route.at("destination").get<std::string>()),
                             at, route);
                     });
        });
        if (auto limits = document.find("limits"); limits != document.end())
            add("limits", "limits", "limits", *limits);
    }

  private:
    template <class Visit>
    static void for_each(const json& parent, const char* key, const std::string& path,
                         Visit visit) {
        auto it = parent.find(key);
        if (it == parent.end()) return;
        const std::string base = path.empty() ? key : fmt::format("{}.{}", path, key);
        for (std::size_t index = 0; index < it->size(); ++index)
            visit((*it)[index], fmt::format("{}[{}]", base, index));
    }

    static json without(json object, std::initializer_list<const char*> keys) {
        for (const char* key : keys)
            object.erase(key);
        return object;
    }

    static json with_parent(json object, const std::string& parent) {
        object["parent"] = parent;
        return object;
    }

    void route_table(const std::string& name, const json& table, const std::string& path,
                     const std::string& vpc) {
        add("route_table", name, path, with_parent(without(table, {"routes"}), vpc));
        for_each(table, "routes", path, [&](const json& route, const std::string& at) {
            add("route", fmt::format("{}:{}", name, route.at("destination").get<std::string>()), at,
                route);
        });
    }

    void add(std::string kind, std::string name, std::string path, json own) {
        entries.push_back({{std::move(kind), std::move(name), std::move(path)}, std::move(own)});
    }
};

std::vector<Entry> objects_of(const model::Model& model) {
    Collector collector;
    collector.collect(model::to_json(model));
    return std::move(collector.entries);
}

json objects_json(const std::vector<PlanObject>& objects) {
    json out = json::array();
    for (const auto& object : objects)
        out.push_back({{"kind", object.kind}, {"name", object.name}, {"path", object.path}});
    return out;
}

}  // namespace

Plan diff(const model::Model& before, const model::Model& after) {
    const auto old_objects = objects_of(before);
    const auto new_objects = objects_of(after);
    using Key = std::pair<std::string, std::string>;
    std::map<Key, const Entry*> old_index, new_index;
    for (const auto& entry : old_objects)
        old_index.emplace(Key{entry.object.kind, entry.object.name}, &entry);
    for (const auto& entry : new_objects)
        new_index.emplace(Key{entry.object.kind, entry.object.name}, &entry);

    Plan plan;
    for (const auto& entry : new_objects) {
        auto found = old_index.find({entry.object.kind, entry.object.name});
        if (found == old_index.end())
            plan.added.push_back(entry.object);
        else if (found->second->own != entry.own)
            plan.changed.push_back(entry.object);
    }
    for (const auto& entry : old_objects)
        if (!new_index.contains({entry.object.kind, entry.object.name}))
            plan.removed.push_back(entry.object);
    return plan;
}

Plan diff(const model::DnatEntryChange& change) {
    Plan plan;
    auto object = [&](const model::DnatEntry& entry) {
        return PlanObject{
            "dnat_entry", entry.name,
            fmt::format("nat_gateways[{}].dnat_entries[{}]", change.gateway, change.position)};
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

json to_json(const Plan& plan) {
    json out = {{"added", objects_json(plan.added)},
                {"changed", objects_json(plan.changed)},
                {"removed", objects_json(plan.removed)}};
    if (!plan.notes.empty()) out["notes"] = plan.notes;
    return out;
}

}  // namespace natctl::api
