// engine::diff against a reference: the plan as first specified, computed over the canonical
// JSON form of both models (every object's fields without its children, plus its parent's
// name, compared as JSON). The typed diff must give exactly its plan on random models and
// edits, on colliding names across parents and on the corner cases listed below.
#include <fmt/format.h>

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "controller/engine/plan.hpp"
#include "controller/model/json.hpp"
#include "tests/unit/model_edits.hpp"

namespace {

namespace engine = natctl::engine;
namespace model = natctl::model;
using natctl::testing::Edits;
using nlohmann::json;

struct Entry {
    engine::PlanObject object;
    json own;
};

class ReferenceCollector {
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

std::vector<Entry> reference_objects(const model::Model& model) {
    ReferenceCollector collector;
    collector.collect(model::to_json(model));
    return std::move(collector.entries);
}

engine::Plan reference_diff(const model::Model& before, const model::Model& after) {
    const auto old_objects = reference_objects(before);
    const auto new_objects = reference_objects(after);
    using Key = std::pair<std::string, std::string>;
    std::map<Key, const Entry*> old_index, new_index;
    for (const auto& entry : old_objects)
        old_index.emplace(Key{entry.object.kind, entry.object.name}, &entry);
    for (const auto& entry : new_objects)
        new_index.emplace(Key{entry.object.kind, entry.object.name}, &entry);
    engine::Plan plan;
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

// Renames objects of every kind to one of a few names, so that names collide across parents
// (and within one: duplicates, which only the first of is matched).
void squash_names(model::Model& m, Edits& edits) {
    auto squash = [&](std::string& name, const char* prefix) {
        name = fmt::format("{}-{}", prefix, edits.pick(3));
    };
    for (auto& vpc : m.vpcs) {
        if (edits.coin()) squash(vpc.name, "vpc");
        for (auto& item : vpc.vswitches)
            squash(item.name, "vsw");
        for (auto& item : vpc.instances)
            squash(item.name, "i");
        for (auto& item : vpc.route_tables)
            squash(item.name, "rt");
        if (vpc.system_route_table && edits.coin())
            squash(vpc.system_route_table->name.emplace(), "rt");
    }
    for (auto& gateway : m.nat_gateways) {
        if (edits.coin()) squash(gateway.name, "ngw");
        for (auto& entry : gateway.snat_entries)
            squash(entry.name, "snat");
        for (auto& entry : gateway.dnat_entries)
            squash(entry.name, "dnat");
    }
}

void check_same_plan(const model::Model& before, const model::Model& after) {
    const auto expected = reference_diff(before, after);
    const auto actual = engine::diff(before, after);
    INFO("reference " << engine::to_json(expected).dump());
    INFO("typed     " << engine::to_json(actual).dump());
    CHECK(actual.added == expected.added);
    CHECK(actual.changed == expected.changed);
    CHECK(actual.removed == expected.removed);
}

}  // namespace

TEST_CASE("plan: the typed diff gives the reference plan on random models and edits", "[plan]") {
    Edits edits(1616);
    for (int round = 0; round < 600; ++round) {
        INFO("round " << round);
        model::Model before = edits.model();
        if (round % 3 == 0) squash_names(before, edits);
        model::Model after = before;
        for (std::size_t n = 1 + edits.pick(4); n > 0; --n)
            edits.edit(after);
        if (round % 5 == 0) squash_names(after, edits);
        if (round % 11 == 0) after = edits.model();  // unrelated models too
        check_same_plan(before, after);
        check_same_plan(after, before);
        check_same_plan(before, before);
    }
}

TEST_CASE("plan: objects moved between parents, tables changing role, equal names", "[plan]") {
    Edits edits(16);
    model::Model before = edits.model();
    while (before.vpcs.size() < 2 || before.nat_gateways.size() < 2)
        before = edits.model();
    auto entry = natctl::testing::dnat(5);
    before.nat_gateways[0].dnat_entries.push_back(entry);

    SECTION("a DNAT entry moves to another gateway: changed (its parent)") {
        model::Model after = before;
        after.nat_gateways[0].dnat_entries.pop_back();
        after.nat_gateways[1].dnat_entries.push_back(entry);
        check_same_plan(before, after);
        CHECK(engine::diff(before, after).changed.size() == 1);
    }
    SECTION("the same entry name in two gateways: the first is matched") {
        model::Model after = before;
        after.nat_gateways[1].dnat_entries.insert(after.nat_gateways[1].dnat_entries.begin(),
                                                  entry);
        check_same_plan(before, after);
        check_same_plan(after, before);
        after.nat_gateways[1].dnat_entries.front().eip = "eip-7";
        check_same_plan(before, after);
        check_same_plan(after, before);
    }
    SECTION("a route table and a system route table of the same name") {
        model::Model after = before;
        after.vpcs[0].route_tables = {{"rt-shared", {}}};
        model::Model system = before;
        system.vpcs[0].route_tables.clear();
        system.vpcs[0].system_route_table = model::SystemRouteTable{"rt-shared", {}};
        check_same_plan(after, system);
        check_same_plan(system, after);
        system.vpcs[0].system_route_table->name.reset();
        check_same_plan(after, system);
        model::Model moved = system;
        moved.vpcs[1].system_route_table = moved.vpcs[0].system_route_table;
        moved.vpcs[0].system_route_table.reset();
        check_same_plan(system, moved);
    }
    SECTION("a vSwitch moves to another VPC; an instance keeps its place") {
        model::Model after = before;
        after.vpcs[1].vswitches.push_back({"vsw-moving", {{0x0a010000u}, 24}, {}});
        model::Model moved = after;
        moved.vpcs[0].vswitches.push_back(moved.vpcs[1].vswitches.back());
        moved.vpcs[1].vswitches.pop_back();
        check_same_plan(after, moved);
    }
    SECTION("only the order or the version changes: nothing to report") {
        model::Model after = before;
        std::swap(after.vpcs[0], after.vpcs[1]);
        after.version = 2;
        check_same_plan(before, after);
        CHECK(engine::diff(before, after).added.empty());
    }
    SECTION("gateway routes, limits and a gateway's own fields") {
        model::Model after = before;
        after.ipv4_gateways.push_back({"igw-x", before.vpcs[0].name, {}, "veth-out", {1}, {}});
        after.ipv4_gateways.back().gateway_route_table.push_back(
            {{{0x0a000000u}, 8}, model::InstanceHop{"i-1"}});
        after.limits = model::Limits{.dnat_entries_per_nat_gateway = 5u};
        after.nat_gateways[1].port_budget_per_eip = 1000;
        check_same_plan(before, after);
        model::Model rerouted = after;
        rerouted.ipv4_gateways.back().gateway_route_table.back().next_hop = model::LocalHop{};
        rerouted.limits->dnat_entries_per_nat_gateway = 6u;
        check_same_plan(after, rerouted);
        check_same_plan(rerouted, before);
    }
}

namespace {

// What diff_of_valid relies on: no DNAT entry name twice in a model.
bool dnat_names_unique(const model::Model& m) {
    std::set<std::string> seen;
    for (const auto& gateway : m.nat_gateways)
        for (const auto& entry : gateway.dnat_entries)
            if (!seen.insert(entry.name).second) return false;
    return true;
}

void check_valid_diff(const model::Model& before, const model::Model& after) {
    REQUIRE(dnat_names_unique(before));
    REQUIRE(dnat_names_unique(after));
    const auto expected = engine::diff(before, after);
    const auto actual = engine::diff_of_valid(before, after);
    INFO("diff           " << engine::to_json(expected).dump());
    INFO("diff_of_valid  " << engine::to_json(actual).dump());
    CHECK(actual.added == expected.added);
    CHECK(actual.changed == expected.changed);
    CHECK(actual.removed == expected.removed);
}

}  // namespace

TEST_CASE("plan: diff_of_valid gives diff's plan when DNAT entry names are unique", "[plan]") {
    Edits edits(2323);
    int compared = 0;
    for (int round = 0; round < 400; ++round) {
        INFO("round " << round);
        model::Model before = edits.model();
        model::Model after = before;
        for (std::size_t n = 1 + edits.pick(4); n > 0; --n)
            edits.edit(after);
        if (round % 13 == 0) after = edits.model();
        // Some random edits copy an entry's name (an invalid model): not diff_of_valid's case.
        if (!dnat_names_unique(before) || !dnat_names_unique(after)) continue;
        ++compared;
        check_valid_diff(before, after);
        check_valid_diff(after, before);
        check_valid_diff(before, before);
    }
    CHECK(compared > 300);

    model::Model before = edits.model();
    while (before.nat_gateways.size() < 2 || before.nat_gateways[0].dnat_entries.empty())
        before = edits.model();
    SECTION("gateways reordered, their entries unchanged: nothing to report") {
        model::Model after = before;
        std::swap(after.nat_gateways[0], after.nat_gateways[1]);
        check_valid_diff(before, after);
        CHECK(engine::diff_of_valid(before, after).empty());
    }
    SECTION("a gateway renamed with the same entries: the entries changed parent") {
        model::Model after = before;
        after.nat_gateways[0].name = "ngw-renamed";
        check_valid_diff(before, after);
        CHECK(engine::diff_of_valid(before, after).changed.size() ==
              before.nat_gateways[0].dnat_entries.size());
    }
    SECTION("an entry moves to a gateway whose other entries are unchanged") {
        model::Model after = before;
        after.nat_gateways[1].dnat_entries.push_back(after.nat_gateways[0].dnat_entries.back());
        after.nat_gateways[0].dnat_entries.pop_back();
        check_valid_diff(before, after);
        check_valid_diff(after, before);
    }
}
