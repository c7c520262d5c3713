// The API's fast path for one DNAT entry (Handler::write_dnat: DnatChangeIndex, incremental
// compile, Reconciler::apply_elements, Store::commit_change, plan from the change) against
// the whole-model path it stands in for: random sequences of DNAT creates, replaces and
// deletes on a generated model, through the real service, store (files), data plane and
// reconciler over the netlink fakes. Every answer must be the one the whole-model path
// gives (status, errors, plan, revision), the kernel and the reconciler's committed copy
// must equal a compile of the stored model from scratch, and the store must reopen to the
// same models and revisions. The test also requires that the fast path was taken for many
// changes and that the whole-model path answered others, so it cannot pass vacuously.
#include <fmt/format.h>
#include <stdlib.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "controller/api/objects.hpp"
#include "controller/api/service.hpp"
#include "controller/compiler/compile.hpp"
#include "controller/compiler/incremental.hpp"
#include "controller/daemon/data_plane.hpp"
#include "controller/engine/plan.hpp"
#include "controller/model/addr.hpp"
#include "controller/model/change.hpp"
#include "controller/model/json.hpp"
#include "controller/model/validate.hpp"
#include "controller/reconciler/reconciler.hpp"
#include "tests/support/nft_fake.hpp"
#include "tests/support/route_fake.hpp"
#include "tests/unit/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace natctl;
using natctl::testing::TempDir;
using nlohmann::json;

model::Ipv4 ip(const char* text) {
    auto parsed = model::parse_ipv4(text);
    REQUIRE(parsed.has_value());
    return *parsed;
}

// One VPC with two vSwitches and an instance whose public IP claims egress for 10.0.2.21
// (before any IP mapping of it); gateway ngw-a publishes on e1, e2 and e3 (e3 also serves an
// SNAT entry, so its ports 1025-65535 collide), ngw-b on e4 and e5 (e5 carries an IP
// mapping); ngw-a also holds e6, free for IP mappings.
model::Model base_model(std::uint32_t dnat_limit) {
    const char* text = R"({
      "version": 1,
      "vpcs": [{"name": "vpc-1", "cidr": "10.0.0.0/16", "interfaces": ["veth-vpc"],
                "vswitches": [{"name": "vsw-1", "cidr": "10.0.1.0/24"},
                              {"name": "vsw-2", "cidr": "10.0.2.0/24"}],
                "instances": [{"name": "i-1", "vswitch": "vsw-2", "private_ips": ["10.0.2.21"],
                               "public_ip": "198.51.100.50"}]}],
      "eips": [{"name": "e1", "address": "203.0.113.1"}, {"name": "e2", "address": "203.0.113.2"},
               {"name": "e3", "address": "203.0.113.3"}, {"name": "e4", "address": "203.0.113.4"},
               {"name": "e5", "address": "203.0.113.5"}, {"name": "e6", "address": "203.0.113.6"}],
      "nat_gateways": [
        {"name": "ngw-a", "vpc": "vpc-1", "outside_interface": "veth-wan",
         "upstream": "198.51.100.1", "eips": ["e1", "e2", "e3", "e6"],
         "snat_entries": [{"name": "s1", "source": {"vswitch": "vsw-1"}, "eips": ["e3"]}]},
        {"name": "ngw-b", "vpc": "vpc-1", "outside_interface": "veth-wan",
         "upstream": "198.51.100.1", "eips": ["e4", "e5"],
         "dnat_entries": [{"name": "map-5", "eip": "e5", "protocol": "any",
                           "private_ip": "10.0.2.50"}]}]
    })";
    auto parsed = model::load_model(text);
    INFO((parsed ? std::string()
                 : parsed.error().front().path + ": " + parsed.error().front().reason));
    REQUIRE(parsed.has_value());
    parsed->limits = model::Limits{};
    parsed->limits->dnat_entries_per_nat_gateway = dnat_limit;
    return *parsed;
}

class Generator {
  public:
    // `ip_mapping_percent`: how often an entry is an IP mapping (protocol any).
    explicit Generator(std::uint32_t seed, int ip_mapping_percent = 5)
        : random_(seed), ip_mapping_percent_(ip_mapping_percent) {}

    std::size_t below(std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_);
    }
    bool chance(int percent) { return below(100) < static_cast<std::size_t>(percent); }

    std::string name() {
        if (chance(2)) return "-bad";
        return fmt::format("d{}", below(60));
    }

    model::DnatEntry entry(std::string entry_name) {
        model::DnatEntry out;
        out.name = std::move(entry_name);
        static const char* eips[] = {"e1", "e2", "e3", "e4", "e5", "e6", "e9"};
        // Mostly the EIPs that already carry port mappings, so that the fast path applies.
        out.protocol = chance(ip_mapping_percent_)
                           ? model::DnatProtocol::Any
                           : (chance(50) ? model::DnatProtocol::Tcp : model::DnatProtocol::Udp);
        // An IP mapping needs an EIP of its own: mostly e6.
        if (out.protocol == model::DnatProtocol::Any)
            out.eip = chance(70) ? "e6" : eips[below(7)];
        else
            out.eip = chance(85) ? eips[below(2)] : eips[below(7)];
        if (out.protocol != model::DnatProtocol::Any || chance(10)) {
            const auto lo = static_cast<std::uint16_t>(chance(5) ? 1030 + below(5) : 1 + below(80));
            const auto size = static_cast<std::uint16_t>(chance(80) ? 1 : 1 + below(4));
            out.public_port = model::PortRange{lo, static_cast<std::uint16_t>(lo + size - 1)};
            const auto private_lo = static_cast<std::uint16_t>(8000 + below(100));
            const auto private_size = chance(95) ? size : static_cast<std::uint16_t>(size + 1);
            out.private_port = model::PortRange{
                private_lo, static_cast<std::uint16_t>(private_lo + private_size - 1)};
        }
        static const char* addresses[] = {"10.0.1.10", "10.0.1.11",  "10.0.2.20", "10.0.2.21",
                                          "10.0.1.0",  "10.0.1.255", "10.0.3.5",  "192.0.2.1"};
        out.private_ip = ip(chance(90) ? addresses[below(4)] : addresses[below(8)]);
        return out;
    }

  private:
    std::mt19937 random_;
    int ip_mapping_percent_;
};

// The edit the whole-model path makes for a request, on a copy; nullopt when it refuses
// before validation (it is then the same code as the fast path falls back to anyway).
struct Request {
    std::string method;
    std::string target;
    std::string body;
    std::size_t gateway = 0;
    std::string name;
    std::optional<model::DnatEntry> entry;
};

std::optional<model::Model> edited(const model::Model& before, const Request& request) {
    model::Model next = before;
    auto& entries = next.nat_gateways.at(request.gateway).dnat_entries;
    auto found = std::find_if(entries.begin(), entries.end(),
                              [&](const model::DnatEntry& e) { return e.name == request.name; });
    if (request.method == "POST") {
        if (found != entries.end()) return std::nullopt;  // 409
        entries.push_back(*request.entry);
    } else if (found == entries.end()) {
        return std::nullopt;  // 404
    } else if (request.method == "PUT") {
        *found = *request.entry;
    } else {
        entries.erase(found);
    }
    return next;
}

// The API's answer to validation errors (422: kind "invalid").
json errors_json(const model::Errors& errors) {
    json out = json::array();
    for (const auto& error : errors)
        out.push_back({{"path", error.path}, {"reason", error.reason}, {"kind", "invalid"}});
    return out;
}

// Counts the changes the data plane could apply as element changes.
class CountingPlane : public engine::DataPlane {
  public:
    void repair_soon(std::string reason) override { inner_.repair_soon(std::move(reason)); }
    explicit CountingPlane(daemon::ReconcilerDataPlane& inner) : inner_(inner) {}
    std::expected<engine::KernelChange, util::Error> apply(const model::Model& model) override {
        ++whole;
        return inner_.apply(model);
    }
    std::expected<engine::KernelChange, util::Error> apply_change(
        const model::Model& before, const model::DnatEntryChange& change,
        const model::DnatChangeIndex& index) override {
        if (compiler::compile_dnat_change(before, change, index))
            ++incremental;
        else
            ++fallback;
        return inner_.apply_change(before, change, index);
    }
    std::expected<engine::KernelChange, util::Error> plan(const model::Model& model) override {
        return inner_.plan(model);
    }
    json status() override { return inner_.status(); }

    int whole = 0, incremental = 0, fallback = 0;

  private:
    daemon::ReconcilerDataPlane& inner_;
};

}  // namespace

TEST_CASE("fast DNAT writes answer, apply and store exactly what the whole-model path does",
          "[api][fast-path]") {
    const std::uint32_t seed = GENERATE(1u, 2u, 3u, 4u);
    INFO("seed " << seed);
    // Odd seeds: IP mappings now and then; even seeds: often.
    Generator generate(seed, seed % 2 ? 5 : 40);
    TempDir dir{"fastpath"};
    netlink::NftFake nft;
    netlink::RouteFake routes{{"veth-wan", "veth-vpc"}};
    daemon::ReconcilerDataPlane inner(nft, routes, nullptr, {std::nullopt, "not probed"},
                                      [] { return std::time_t{1700000000}; });
    CountingPlane plane(inner);
    auto opened = store::Store::open(dir.state(), store::StoreOptions{200, 40});
    REQUIRE(opened.has_value());
    auto store = std::move(*opened);
    api::Service service(*store, plane);
    auto call = [&](const std::string& method, const std::string& target, const std::string& body) {
        return service.handle({method, target, {}, body, 0});
    };

    // The start: a valid model with a port mapping on e1, e2 and e4, loaded whole.
    model::Model start = base_model(40);
    start.nat_gateways[0].dnat_entries.push_back({"seed-1", "e1", model::DnatProtocol::Tcp,
                                                  model::PortRange{500, 500}, ip("10.0.1.10"),
                                                  model::PortRange{80, 80}});
    start.nat_gateways[0].dnat_entries.push_back({"seed-2", "e2", model::DnatProtocol::Udp,
                                                  model::PortRange{501, 502}, ip("10.0.1.11"),
                                                  model::PortRange{53, 54}});
    start.nat_gateways[1].dnat_entries.push_back({"seed-4", "e4", model::DnatProtocol::Tcp,
                                                  model::PortRange{600, 600}, ip("10.0.2.20"),
                                                  model::PortRange{22, 22}});
    REQUIRE(model::validate(start).empty());
    REQUIRE(call("PUT", "/v1/config", model::to_json(start).dump()).status == 200);

    std::vector<std::pair<std::uint64_t, model::Model>> history{{store->revision(), start}};
    int accepted = 0, refused = 0;
    const int whole_before = plane.whole;
    for (int step = 0; step < 300; ++step) {
        const model::Model before = store->current();
        Request request;
        request.gateway = generate.chance(75) ? 0 : 1;
        const auto& gateway = before.nat_gateways[request.gateway];
        const std::string base = fmt::format("/v1/nat_gateways/{}/dnat_entries", gateway.name);
        const int kind = static_cast<int>(generate.below(10));
        if (kind < 5 || gateway.dnat_entries.empty()) {
            request.method = "POST";
            request.target = base;
            request.name = generate.name();
            request.entry = generate.entry(request.name);
        } else {
            const auto& existing =
                gateway.dnat_entries[generate.below(gateway.dnat_entries.size())];
            request.name = existing.name;
            request.target = fmt::format("{}/{}", base, existing.name);
            if (kind < 8) {
                request.method = "PUT";
                request.entry = generate.chance(10) ? existing : generate.entry(existing.name);
            } else {
                request.method = "DELETE";
            }
        }
        if (request.entry) request.body = api::to_json(*request.entry).dump();
        INFO("step " << step << ": " << request.method << " " << request.target << " "
                     << request.body);

        auto next = edited(before, request);
        auto response = call(request.method, request.target, request.body);
        INFO(response.body);
        const json answer = json::parse(response.body);
        if (!next) {
            CHECK((response.status == 404 || response.status == 409));
            CHECK(store->current() == before);
            continue;
        }
        const auto errors = model::validate(*next);
        if (!errors.empty()) {
            ++refused;
            REQUIRE(response.status == 422);
            CHECK(answer.at("errors") == errors_json(errors));
            CHECK(store->current() == before);
            continue;
        }
        ++accepted;
        const bool changed = *next != before;
        REQUIRE(response.status == (request.method == "POST" ? 201 : 200));
        CHECK(answer.at("changed") == changed);
        CHECK(answer.at("plan") == engine::to_json(engine::diff(before, *next)));
        REQUIRE(store->current() == *next);
        CHECK(answer.at("revision") == store->revision());
        if (changed) history.emplace_back(store->revision(), *next);

        if (step % 10 == 9) {
            // The reconciler's committed copy equals a compile from scratch: planned against
            // it, the stored model changes nothing; and so does the kernel, read back whole.
            auto against_copy = inner.apply(store->current());
            REQUIRE(against_copy.has_value());
            CHECK_FALSE(against_copy->changed);
            auto against_kernel = inner.reconcile(store->current(), daemon::ReconcileCause::Resync);
            REQUIRE(against_kernel.has_value());
            CHECK_FALSE(against_kernel->changed);
        }
    }
    auto against_kernel = inner.reconcile(store->current(), daemon::ReconcileCause::Resync);
    REQUIRE(against_kernel.has_value());
    CHECK_FALSE(against_kernel->changed);
    auto dumped = nft.dump();
    REQUIRE(dumped.has_value());

    // Not vacuous: both outcomes happened, many changes were element changes, and the
    // whole-model path still served the rest (a gateway's first and last entries, IP
    // mappings of a private IP a public IP claims).
    CHECK(accepted > 60);
    CHECK(refused > 20);
    CHECK(plane.incremental > 40);
    CHECK(plane.whole + plane.fallback - whole_before > 0);

    // The same models and revisions after reopening (journal replay, compactions).
    const model::Model final_model = store->current();
    const auto final_revisions = store->revisions();
    store.reset();
    auto reopened = store::Store::open(dir.state(), store::StoreOptions{200, 40});
    REQUIRE(reopened.has_value());
    CHECK((*reopened)->current() == final_model);
    CHECK((*reopened)->revision() == final_revisions.back().revision);
    REQUIRE((*reopened)->revisions().size() == final_revisions.size());
    for (const auto& [revision, expected] : history) {
        if (revision < final_revisions.front().revision) continue;
        auto rebuilt = (*reopened)->model_at(revision);
        REQUIRE(rebuilt.has_value());
        CHECK(*rebuilt == expected);
    }
}

TEST_CASE("element changes of a DNAT entry equal the compile of the model after it",
          "[compiler][fast-path]") {
    // Port mappings mostly, then IP mappings mostly (dnat_ip, snat_ip, echo_local and the
    // EIP's dnat_open and return_marks), on a gateway that answers echo and on one that
    // does not.
    const int ip_mapping_percent = GENERATE(5, 60);
    const bool answers_echo = GENERATE(true, false);
    INFO("ip mappings " << ip_mapping_percent << "%, echo " << answers_echo);
    Generator generate(7, ip_mapping_percent);
    model::Model current = base_model(1000);
    current.nat_gateways[0].dnat_entries.push_back({"seed-1", "e1", model::DnatProtocol::Tcp,
                                                    model::PortRange{500, 500}, ip("10.0.1.10"),
                                                    model::PortRange{80, 80}});
    current.nat_gateways[0].dnat_entries.push_back({"seed-2", "e2", model::DnatProtocol::Tcp,
                                                    model::PortRange{501, 501}, ip("10.0.1.10"),
                                                    model::PortRange{81, 81}});
    if (!answers_echo) current.nat_gateways[0].icmp_echo_reply = false;
    model::DnatChangeIndex index(current, false);
    REQUIRE(index.usable());
    auto state = compiler::compile(current);
    auto translations = compiler::index_translations(current);
    int incremental = 0, accepted_changes = 0, ip_mappings_incremental = 0;
    for (int step = 0; step < 400; ++step) {
        auto& entries = current.nat_gateways[0].dnat_entries;
        model::DnatEntryChange change{0, entries.size(), std::nullopt, std::nullopt};
        if (generate.chance(50) || entries.empty()) {
            change.after = generate.entry(fmt::format("n{}", step));
        } else {
            change.position = generate.below(entries.size());
            change.before = entries[change.position];
            if (generate.chance(50)) {
                change.after = generate.entry(change.before->name);
            }
        }
        model::Model after = current;
        model::apply(after, change);
        const bool valid = model::validate(after).empty();
        const bool accepted = index.accepts(current, change);
        INFO("step " << step);
        // Sound: the index never accepts what validation refuses.
        if (accepted) REQUIRE(valid);
        if (accepted) ++accepted_changes;
        if (!valid) continue;
        if (auto changes = compiler::compile_dnat_change(current, change, index)) {
            ++incremental;
            if ((change.before && change.before->ip_mapping()) ||
                (change.after && change.after->ip_mapping()))
                ++ip_mappings_incremental;
            for (const auto& set_changes : *changes) {
                auto set =
                    std::find_if(state.table.sets.begin(), state.table.sets.end(),
                                 [&](const kernel::Set& s) { return s.name == set_changes.set; });
                REQUIRE(set != state.table.sets.end());
                for (const auto& element : set_changes.removed) {
                    auto found = std::find(set->elements.begin(), set->elements.end(), element);
                    REQUIRE(found != set->elements.end());
                    set->elements.erase(found);
                }
                for (const auto& element : set_changes.added)
                    set->elements.insert(
                        std::upper_bound(set->elements.begin(), set->elements.end(), element,
                                         [](const kernel::Element& a, const kernel::Element& b) {
                                             return a.key < b.key;
                                         }),
                        element);
            }
            compiler::apply_dnat_change(translations, current, change);
            CHECK(state == compiler::compile(after));
            CHECK(translations == compiler::index_translations(after));
        } else {
            state = compiler::compile(after);
            translations = compiler::index_translations(after);
        }
        index.apply(change);
        current = std::move(after);
        // The index kept in step equals one built from scratch in what it accepts.
        model::DnatChangeIndex fresh(current, false);
        auto probe = model::DnatEntryChange{0, current.nat_gateways[0].dnat_entries.size(),
                                            std::nullopt, generate.entry("probe")};
        CHECK(index.accepts(current, probe) == fresh.accepts(current, probe));
    }
    CHECK(incremental > 50);
    CHECK(accepted_changes > 50);
    CHECK(ip_mappings_incremental > (ip_mapping_percent > 50 ? 20 : 0));
}
