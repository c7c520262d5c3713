// The API's fast path for one DNAT or SNAT entry (Handler::write_entry: DnatChangeIndex,
// incremental compile, Reconciler::apply_elements / apply_delta, Store::commit_change, plan
// from the change) against the whole-model path it stands in for: random sequences of
// creates, replaces and deletes on a generated model, through the real service, store (files), data
// plane and reconciler over the netlink fakes. Every answer must be the one the whole-model path
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

#include "controller/api/edits.hpp"
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
    std::expected<engine::KernelChange, util::Error> apply_without_dnat(
        const model::Model& before, const model::Model& light_before,
        const model::Model& light_after, const model::DnatChangeIndex& index) override {
        ++without_dnat;
        return inner_.apply_without_dnat(before, light_before, light_after, index);
    }
    std::expected<engine::KernelChange, util::Error> plan(const model::Model& model) override {
        return inner_.plan(model);
    }
    json status() override { return inner_.status(); }

    int whole = 0, incremental = 0, fallback = 0, without_dnat = 0;

  private:
    daemon::ReconcilerDataPlane& inner_;
};

// A service over the real store (files), data plane and reconciler on the netlink fakes,
// with what both API tests check of every answer against the whole-model path.
struct Rig {
    explicit Rig(const char* name, bool held = false) : dir{name} {
        inner.hold_new_flows_from_start(held);
        auto opened = store::Store::open(dir.state(), store::StoreOptions{200, 40});
        REQUIRE(opened.has_value());
        store = std::move(*opened);
        service.emplace(*store, plane);
    }

    api::HttpResponse call(const std::string& method, const std::string& target,
                           const std::string& body) {
        return service->handle({method, target, {}, body, 0});
    }

    void load(const model::Model& start) {
        REQUIRE(call("PUT", "/v1/config", model::to_json(start).dump()).status == 200);
        history.emplace_back(store->revision(), start);
        whole_before = plane.whole;
    }

    // `response` to a request that the whole-model path turns into `next` (nullopt: refused
    // before validation, 404 or 409) from `before`: the same status, errors, plan and
    // revision, and the store holds what it says.
    void judge(const model::Model& before, const std::optional<model::Model>& next,
               const api::HttpResponse& response, int success_status) {
        INFO(response.body);
        const json answer = json::parse(response.body);
        if (!next) {
            CHECK((response.status == 404 || response.status == 409));
            CHECK(store->current() == before);
            return;
        }
        const auto errors = model::validate(*next);
        if (!errors.empty()) {
            ++refused;
            REQUIRE(response.status == 422);
            CHECK(answer.at("errors") == errors_json(errors));
            CHECK(store->current() == before);
            return;
        }
        ++accepted;
        const bool changed = *next != before;
        REQUIRE(response.status == success_status);
        CHECK(answer.at("changed") == changed);
        CHECK(answer.at("plan") == engine::to_json(engine::diff(before, *next)));
        REQUIRE(store->current() == *next);
        CHECK(answer.at("revision") == store->revision());
        if (changed) history.emplace_back(store->revision(), *next);
    }

    // The reconciler's committed copy equals a compile from scratch: planned against it, the
    // stored model changes nothing; and so does the kernel, read back whole.
    void check_kernel() {
        auto against_copy = inner.apply(store->current());
        REQUIRE(against_copy.has_value());
        CHECK_FALSE(against_copy->changed);
        auto against_kernel = inner.reconcile(store->current(), daemon::ReconcileCause::Resync);
        REQUIRE(against_kernel.has_value());
        CHECK_FALSE(against_kernel->changed);
    }

    // The same models and revisions after reopening (journal replay, compactions).
    void check_reopened() {
        const model::Model final_model = store->current();
        const auto final_revisions = store->revisions();
        service.reset();
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

    TempDir dir;
    netlink::NftFake nft;
    netlink::RouteFake routes{{"veth-wan", "veth-vpc"}};
    daemon::ReconcilerDataPlane inner{
        nft, routes, nullptr, {std::nullopt, "not probed"}, [] { return std::time_t{1700000000}; }};
    CountingPlane plane{inner};
    std::unique_ptr<store::Store> store;
    std::optional<api::Service> service;
    std::vector<std::pair<std::uint64_t, model::Model>> history;
    int accepted = 0, refused = 0, whole_before = 0;
};

}  // namespace

TEST_CASE("fast DNAT writes answer, apply and store exactly what the whole-model path does",
          "[api][fast-path]") {
    const std::uint32_t seed = GENERATE(1u, 2u, 3u, 4u);
    INFO("seed " << seed);
    // Odd seeds: IP mappings now and then; even seeds: often.
    Generator generate(seed, seed % 2 ? 5 : 40);
    Rig rig("fastpath");
    auto& store = rig.store;
    auto& plane = rig.plane;

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
    rig.load(start);
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
        auto response = rig.call(request.method, request.target, request.body);
        rig.judge(before, next, response, request.method == "POST" ? 201 : 200);
        if (step % 10 == 9) rig.check_kernel();
    }
    rig.check_kernel();

    // Not vacuous: both outcomes happened, many changes were element changes, and the
    // whole-model path still served the rest (a gateway's first and last entries, IP
    // mappings of a private IP a public IP claims).
    CHECK(rig.accepted > 60);
    CHECK(rig.refused > 20);
    CHECK(plane.incremental > 40);
    CHECK(plane.whole + plane.fallback - rig.whole_before > 0);
    rig.check_reopened();
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

namespace {

// SNAT entries on base_model()'s gateways: mostly valid sources and EIPs, now and then a
// source outside the VPC, an EIP of another gateway, of an IP mapping (e6 in
// snat_fast_path_model) or one whose port mappings lie in snat_port_range (e2), a name
// taken or malformed.
class SnatGenerator {
  public:
    explicit SnatGenerator(std::uint32_t seed) : generate_(seed) {}

    std::size_t below(std::size_t n) { return generate_.below(n); }
    bool chance(int percent) { return generate_.chance(percent); }
    std::string name() { return chance(2) ? "-bad" : fmt::format("s{}", below(12)); }

    model::SnatEntry entry(std::string entry_name, std::size_t gateway) {
        model::SnatEntry out;
        out.name = std::move(entry_name);
        switch (below(9)) {
            case 0:
                out.source = model::VSwitchSource{"vsw-1"};
                break;
            case 1:
                out.source = model::VSwitchSource{chance(80) ? "vsw-2" : "vsw-9"};
                break;
            case 2:
                out.source = model::InstanceSource{"i-1"};
                break;
            case 3:
                out.source = model::VpcSource{"vpc-1"};
                break;
            default: {
                static const char* cidrs[] = {"10.0.1.0/25",  "10.0.1.128/25", "10.0.2.0/24",
                                              "10.0.1.64/26", "10.0.0.0/16",   "10.1.0.0/24"};
                auto cidr = model::parse_cidr(cidrs[chance(90) ? below(5) : 5]);
                REQUIRE(cidr.has_value());
                out.source = model::CidrSource{*cidr};
            }
        }
        static const char* own[][2] = {{"e1", "e3"}, {"e4", "e4"}};
        static const char* others[] = {"e2", "e6", "e4", "e5", "e9", "e1"};
        const std::size_t count = chance(75) ? 1 : 2;
        for (std::size_t i = 0; i < count; ++i)
            out.eips.push_back(chance(85) ? own[gateway][below(2)] : others[below(6)]);
        if (chance(20)) out.eip_affinity = chance(50);
        return out;
    }

  private:
    Generator generate_;
};

// base_model with port mappings on e1 (below snat_port_range), e2 (one inside it: no SNAT
// entry may use e2) and e4, an IP mapping on e6 of instance i-2's address, and e7, an EIP
// no gateway or instance holds; ngw-a limits ports per instance.
model::Model snat_fast_path_model() {
    model::Model out = base_model(40);
    auto& a = out.nat_gateways[0];
    a.dnat_entries.push_back({"seed-1", "e1", model::DnatProtocol::Tcp, model::PortRange{500, 500},
                              ip("10.0.1.10"), model::PortRange{80, 80}});
    a.dnat_entries.push_back({"seed-2", "e2", model::DnatProtocol::Udp,
                              model::PortRange{2000, 2001}, ip("10.0.1.11"),
                              model::PortRange{53, 54}});
    a.dnat_entries.push_back(
        {"map-6", "e6", model::DnatProtocol::Any, std::nullopt, ip("10.0.1.60"), std::nullopt});
    a.max_ports_per_instance = 500;
    // i-2's address is what map-6 maps: an EIP associated with i-2 takes its egress.
    out.vpcs[0].instances.push_back({"i-2", "vsw-1", {ip("10.0.1.60")}, std::nullopt});
    out.nat_gateways[1].dnat_entries.push_back({"seed-4", "e4", model::DnatProtocol::Tcp,
                                                model::PortRange{600, 600}, ip("10.0.2.20"),
                                                model::PortRange{22, 22}});
    out.eips.push_back({"e7", ip("203.0.113.7"), std::nullopt, std::nullopt, std::nullopt});
    REQUIRE(model::validate(out).empty());
    return out;
}

// One EIP edit of those the API makes without DNAT entries: associate or disassociate an EIP
// and a gateway, associate an EIP with an instance or end that, readdress an EIP, create or
// delete one. Applied to `m` as the API would (refusals included: nullopt then means "as
// the API leaves it"); returns the request.
struct EipEdit {
    std::string method, target, body;
    api::Edit edit;
    int created = 200;
};

EipEdit random_eip_edit(SnatGenerator& generate, const model::Model& m) {
    static const char* names[] = {"e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"};
    // Mostly the EIPs no DNAT entry uses (e7, and e8 once created), which this path takes.
    const std::string eip =
        generate.chance(65) ? (generate.chance(50) ? "e7" : "e8") : names[generate.below(8)];
    const std::string gateway = generate.chance(70) ? "ngw-a" : "ngw-b";
    const auto kind = generate.below(10);
    if (kind < 3) {
        return {"POST", fmt::format("/v1/nat_gateways/{}/eips/{}", gateway, eip), "",
                api::associate_eip(gateway, eip)};
    }
    if (kind < 5) {
        return {"DELETE", fmt::format("/v1/nat_gateways/{}/eips/{}", gateway, eip), "",
                api::disassociate_eip(gateway, eip)};
    }
    auto found = std::find_if(m.eips.begin(), m.eips.end(),
                              [&](const model::Eip& e) { return e.name == eip; });
    model::Eip next = found != m.eips.end() ? *found
                                            : model::Eip{eip, ip("203.0.113.8"), std::nullopt,
                                                         std::nullopt, std::nullopt};
    if (kind < 8) {
        if (generate.chance(50))
            next.instance = generate.chance(50) ? "i-1" : "i-2";
        else
            next.instance.reset();
        next.private_ip.reset();
        if (generate.chance(15))
            next.address = ip(generate.chance(50) ? "203.0.113.9" : "203.0.113.1");
    }
    const std::string body = model::to_json(next).dump();
    if (kind < 8) {
        return {"PUT", fmt::format("/v1/eips/{}", eip), body,
                [next](model::Model& model, api::Notes&) -> std::optional<api::Failure> {
                    for (auto& e : model.eips)
                        if (e.name == next.name) {
                            e = next;
                            return std::nullopt;
                        }
                    return api::Failure{404, {}};
                }};
    }
    return {"POST", "/v1/eips", body,
            [next](model::Model& model, api::Notes&) -> std::optional<api::Failure> {
                for (const auto& e : model.eips)
                    if (e.name == next.name) return api::Failure{409, {}};
                model.eips.push_back(next);
                return std::nullopt;
            },
            201};
}

// The model after one SNAT change of `gateway`, as the whole-model path makes it; nullopt
// when it refuses before validation (404, 409).
std::optional<model::Model> snat_edited(const model::Model& before, const std::string& method,
                                        std::size_t gateway, const std::string& name,
                                        const std::optional<model::SnatEntry>& entry) {
    model::Model next = before;
    auto& entries = next.nat_gateways.at(gateway).snat_entries;
    auto found = std::find_if(entries.begin(), entries.end(),
                              [&](const model::SnatEntry& e) { return e.name == name; });
    if (method == "POST") {
        if (found != entries.end()) return std::nullopt;
        entries.push_back(*entry);
    } else if (found == entries.end()) {
        return std::nullopt;
    } else if (method == "PUT") {
        *found = *entry;
    } else {
        entries.erase(found);
    }
    return next;
}

}  // namespace

TEST_CASE("fast SNAT writes answer, apply and store exactly what the whole-model path does",
          "[api][fast-path]") {
    const std::uint32_t seed = GENERATE(11u, 12u, 13u);
    // One run with the HA gate closed: both tables of a delta carry it.
    const bool held = seed == 13u;
    INFO("seed " << seed);
    SnatGenerator generate(seed);
    Rig rig("snatfastpath", held);
    rig.load(snat_fast_path_model());
    for (int step = 0; step < 200; ++step) {
        const model::Model before = rig.store->current();
        const std::size_t gateway = generate.chance(80) ? 0 : 1;
        const auto& entries = before.nat_gateways[gateway].snat_entries;
        const std::string base =
            fmt::format("/v1/nat_gateways/{}/snat_entries", before.nat_gateways[gateway].name);
        std::string method, target, name;
        std::optional<model::SnatEntry> entry;
        const auto kind = generate.below(10);
        if (kind < 5 || entries.empty()) {
            method = "POST";
            target = base;
            name = generate.name();
            entry = generate.entry(name, gateway);
        } else {
            name = entries[generate.below(entries.size())].name;
            target = fmt::format("{}/{}", base, name);
            method = kind < 8 ? "PUT" : "DELETE";
            if (method == "PUT") entry = generate.entry(name, gateway);
        }
        const std::string body = entry ? model::to_json(*entry).dump() : "";
        INFO("step " << step << ": " << method << " " << target << " " << body);

        auto next = snat_edited(before, method, gateway, name, entry);
        rig.judge(before, next, rig.call(method, target, body), method == "POST" ? 201 : 200);
        if (step % 5 == 4) rig.check_kernel();
    }
    rig.check_kernel();
    CHECK(rig.accepted > 40);
    CHECK(rig.refused > 20);
    // Every accepted change went to the data plane as a change, none as a whole model.
    CHECK(rig.plane.without_dnat > 40);
    CHECK(rig.plane.whole == rig.whole_before);
    rig.check_reopened();
}

TEST_CASE("EIP edits without DNAT entries answer, apply and store what the whole-model path does",
          "[api][fast-path]") {
    const std::uint32_t seed = GENERATE(31u, 32u);
    INFO("seed " << seed);
    SnatGenerator generate(seed);
    Rig rig("eipfastpath", seed == 32u);
    rig.load(snat_fast_path_model());
    for (int step = 0; step < 200; ++step) {
        const model::Model before = rig.store->current();
        auto request = random_eip_edit(generate, before);
        INFO("step " << step << ": " << request.method << " " << request.target << " "
                     << request.body);
        std::optional<model::Model> next = before;
        api::Notes notes;
        auto refused = request.edit(*next, notes);
        auto response = rig.call(request.method, request.target, request.body);
        if (refused) {
            INFO(response.body);
            CHECK(response.status == refused->status);
            CHECK(rig.store->current() == before);
            continue;
        }
        rig.judge(before, next, response, request.created);
        if (step % 5 == 4) rig.check_kernel();
    }
    rig.check_kernel();
    CHECK(rig.accepted > 40);
    CHECK(rig.refused > 10);
    CHECK(rig.plane.without_dnat > 20);
    rig.check_reopened();
}

TEST_CASE("changes without DNAT entries are accepted when valid; their delta is the compile's",
          "[reconciler][fast-path]") {
    SnatGenerator generate(21);
    netlink::NftFake nft;
    netlink::RouteFake routes{{"veth-wan", "veth-vpc"}};
    reconciler::Reconciler reconciler(nft, routes);
    model::Model current = snat_fast_path_model();
    REQUIRE(reconciler.apply(compiler::compile(current)).has_value());
    int deltas = 0, accepted = 0, refused = 0, declined = 0, claims = 0;
    for (int step = 0; step < 500; ++step) {
        INFO("step " << step);
        const model::DnatChangeIndex index(current, true);
        auto light_after = model::without_dnat_entries(current);
        bool accepted_here = false;
        if (generate.chance(60)) {
            const std::size_t gateway = generate.chance(80) ? 0 : 1;
            auto& entries = current.nat_gateways[gateway].snat_entries;
            model::SnatEntryChange change{gateway, entries.size(), std::nullopt, std::nullopt};
            if (generate.chance(50) || entries.empty()) {
                change.after = generate.entry(generate.name(), gateway);
            } else {
                change.position = generate.below(entries.size());
                change.before = entries[change.position];
                if (generate.chance(60))
                    change.after = generate.entry(change.before->name, gateway);
            }
            if (!model::applies_to(current, change)) continue;
            model::apply(light_after, change);
            accepted_here = index.accepts_without_dnat(current, light_after);
        } else {
            api::Notes notes;
            auto edit = random_eip_edit(generate, current);
            if (edit.edit(light_after, notes)) continue;
            accepted_here = index.accepts_without_dnat(current, light_after);
        }
        model::Model after = current;
        model::adopt_without_dnat_entries(after, light_after);
        const bool valid = model::validate(after).empty();
        // Sound: never accepted when invalid.
        if (accepted_here) REQUIRE(valid);
        if (!valid) {
            ++refused;
            continue;
        }
        if (!accepted_here) {
            // Valid, yet not for this path: an EIP that DNAT entries use was changed.
            ++declined;
            current = std::move(after);
            REQUIRE(reconciler.apply(compiler::compile(current)).has_value());
            continue;
        }
        ++accepted;
        const auto light_before = model::without_dnat_entries(current);
        // The conntrack hygiene's index, patched as the data plane patches it.
        auto patched = compiler::index_translations(current);
        compiler::patch_without_dnat(patched, compiler::index_translations(light_before),
                                     compiler::index_translations(light_after));
        CHECK(patched == compiler::index_translations(after));
        const auto before_state = compiler::compile(light_before);
        const auto after_state = compiler::compile(light_after);
        const bool claim_moved = compiler::egress_claim_moved(
            before_state.table, after_state.table,
            [&](std::uint32_t address) { return index.has_ip_mapping_of(address); });
        if (claim_moved) {
            // Only i-2's EIP claims an IP-mapped address (map-6's): the whole state it is.
            ++claims;
            REQUIRE(reconciler.apply(compiler::compile(after)).has_value());
        } else {
            auto outcome = reconciler.apply_delta(before_state, after_state);
            REQUIRE(outcome.has_value());
            REQUIRE(outcome->has_value());
            ++deltas;
        }
        current = std::move(after);
        // Kernel and committed copy both hold the whole compile of the model after it.
        auto whole = compiler::compile(current);
        auto planned = reconciler.plan(whole);
        REQUIRE(planned.has_value());
        CHECK(planned->nft.empty());
        CHECK(planned->route_operations == 0);
        auto applied = reconciler.apply(whole);
        REQUIRE(applied.has_value());
        CHECK(applied->nft.empty());
    }
    CHECK(deltas > 60);
    CHECK(accepted > 60);
    CHECK(refused > 30);
    CHECK(declined < accepted / 4);
    CHECK(claims > 0);
}
