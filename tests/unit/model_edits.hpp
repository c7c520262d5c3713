// Random models and random edits of every kind of named object: property tests compare
// whole-model algorithms (the store's typed delta, the plan's diff) with simple references.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "controller/model/types.hpp"

namespace natctl::testing {

using natctl::model::DnatEntry;
using natctl::model::DnatProtocol;
using natctl::model::Model;

inline DnatEntry dnat(std::size_t i) {
    DnatEntry entry;
    entry.name = fmt::format("dnat-{}", i);
    entry.eip = "eip-1";
    entry.protocol = i % 2 ? DnatProtocol::Udp : DnatProtocol::Tcp;
    auto port = static_cast<std::uint16_t>(1 + i % 60000);
    entry.public_port = natctl::model::PortRange{port, port};
    entry.private_ip = natctl::model::Ipv4{0x0a000000u + static_cast<std::uint32_t>(i % 65000)};
    entry.private_port = natctl::model::PortRange{8080, 8080};
    return entry;
}

// Random models and random edits of every kind of named object, for the typed delta.
class Edits {
  public:
    explicit Edits(unsigned seed) : random_(seed) {}

    std::size_t pick(std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_);
    }
    bool coin() { return pick(2) == 0; }
    std::string name(const char* kind) { return fmt::format("{}-{}", kind, serial_++); }

    natctl::model::DnatEntry dnat_entry() {
        DnatEntry entry = dnat(pick(100000));
        entry.name = name("dnat");
        if (pick(5) == 0) {
            entry.protocol = DnatProtocol::Any;
            entry.public_port.reset();
            entry.private_port.reset();
        }
        return entry;
    }
    natctl::model::SnatEntry snat_entry() {
        natctl::model::SnatEntry entry;
        entry.name = name("snat");
        if (coin())
            entry.source = natctl::model::VSwitchSource{"vsw-" + std::to_string(pick(3))};
        else
            entry.source = natctl::model::CidrSource{
                {{0x0a000000u + static_cast<std::uint32_t>(pick(255) << 8)}, 24}};
        entry.eips = {"eip-" + std::to_string(pick(3))};
        if (coin()) entry.eip_affinity = coin();
        return entry;
    }
    natctl::model::Eip eip() {
        return {name("eip"), {0xcb007100u + static_cast<std::uint32_t>(pick(200))}};
    }
    natctl::model::VSwitch vswitch() {
        natctl::model::VSwitch out{
            name("vsw"), {{0x0a000000u + static_cast<std::uint32_t>(pick(255) << 8)}, 24}, {}};
        if (coin()) out.route_table = "rt-" + std::to_string(pick(3));
        return out;
    }
    natctl::model::Instance instance() {
        natctl::model::Instance out{
            name("i"), "vsw-1", {{0x0a000100u + static_cast<std::uint32_t>(pick(200))}}, {}};
        if (coin())
            out.public_ip =
                natctl::model::Ipv4{0xcb007100u + static_cast<std::uint32_t>(pick(200))};
        return out;
    }
    natctl::model::RouteTable route_table() {
        natctl::model::RouteTable out{name("rt"), {}};
        for (std::size_t i = pick(3); i > 0; --i)
            out.routes.push_back({{{static_cast<std::uint32_t>(pick(1000)) << 12}, 20},
                                  natctl::model::NatGatewayHop{"ngw-" + std::to_string(pick(2))}});
        return out;
    }
    natctl::model::Vpc vpc() {
        natctl::model::Vpc out;
        out.name = name("vpc");
        out.cidr = {{0x0a000000u}, 16};
        out.interfaces = {"veth-" + std::to_string(pick(9))};
        fill(out.vswitches, &Edits::vswitch, pick(4));
        fill(out.instances, &Edits::instance, pick(6));
        fill(out.route_tables, &Edits::route_table, pick(3));
        if (coin()) out.system_route_table = natctl::model::SystemRouteTable{std::nullopt, {}};
        return out;
    }
    natctl::model::NatGateway gateway() {
        natctl::model::NatGateway out;
        out.name = name("ngw");
        out.vpc = "vpc-1";
        out.outside_interface = "veth-wan";
        out.upstream = {0xc6336401u};
        out.eips = {"eip-1"};
        fill(out.snat_entries, &Edits::snat_entry, pick(5));
        fill(out.dnat_entries, &Edits::dnat_entry, pick(40));
        return out;
    }
    natctl::model::Ipv4Gateway ipv4_gateway() {
        natctl::model::Ipv4Gateway out;
        out.name = name("igw");
        out.vpc = "vpc-1";
        out.outside_interface = "veth-out";
        if (coin()) out.enabled = coin();
        if (coin()) out.gateway_route_table.push_back({{{0}, 0}, natctl::model::LocalHop{}});
        return out;
    }
    Model model() {
        Model out;
        fill(out.vpcs, &Edits::vpc, pick(3));
        fill(out.eips, &Edits::eip, pick(5));
        fill(out.nat_gateways, &Edits::gateway, pick(3));
        fill(out.ipv4_gateways, &Edits::ipv4_gateway, pick(2));
        if (coin()) out.limits = natctl::model::Limits{};
        return out;
    }

    // One random edit somewhere in `model`.
    void edit(Model& model) {
        switch (pick(8)) {
            case 0:
                vector(model.vpcs, &Edits::vpc, [&](natctl::model::Vpc& vpc) {
                    switch (pick(4)) {
                        case 0:
                            vector(vpc.vswitches, &Edits::vswitch,
                                   [&](auto& v) { v.route_table = "rt-x"; });
                            break;
                        case 1:
                            vector(vpc.instances, &Edits::instance,
                                   [&](auto& v) { v.private_ips.push_back({7}); });
                            break;
                        case 2:
                            vector(vpc.route_tables, &Edits::route_table,
                                   [&](auto& v) { v.routes.clear(); });
                            break;
                        default:
                            vpc.interfaces.push_back("veth-new");
                            break;
                    }
                });
                break;
            case 1:
                vector(model.eips, &Edits::eip, [&](auto& eip) { eip.address.value += 1; });
                break;
            case 2:
                vector(model.ipv4_gateways, &Edits::ipv4_gateway,
                       [&](auto& gateway) { gateway.enabled = coin(); });
                break;
            case 3:
                model.limits = coin() ? std::optional<natctl::model::Limits>(
                                            natctl::model::Limits{.eips_per_nat_gateway = 7u})
                                      : std::nullopt;
                break;
            case 4:
                model.version = coin() ? 1 : 2;
                break;
            default:
                vector(
                    model.nat_gateways, &Edits::gateway, [&](natctl::model::NatGateway& gateway) {
                        switch (pick(4)) {
                            case 0:
                                vector(gateway.snat_entries, &Edits::snat_entry,
                                       [&](auto& entry) { entry.eips.push_back("eip-9"); });
                                break;
                            case 1:
                                gateway.icmp_echo_reply = coin();
                                gateway.mode = natctl::model::GatewayMode::Masquerade;
                                break;
                            default:
                                vector(gateway.dnat_entries, &Edits::dnat_entry,
                                       [&](DnatEntry& entry) {
                                           if (coin())
                                               entry.private_port = natctl::model::PortRange{1, 2};
                                           else
                                               entry.eip = "eip-2";
                                       });
                                break;
                        }
                    });
                break;
        }
    }

  private:
    template <class T>
    void fill(std::vector<T>& values, T (Edits::*make)(), std::size_t count) {
        for (std::size_t i = 0; i < count; ++i)
            values.push_back((this->*make)());
    }

    // Change, insert, remove, move, duplicate a name, or empty/refill the array.
    template <class T, class Change>
    void vector(std::vector<T>& values, T (Edits::*make)(), Change change) {
        auto at = [&](std::size_t extra) {
            return values.begin() + static_cast<std::ptrdiff_t>(pick(values.size() + extra));
        };
        switch (values.empty() ? 1 : pick(9)) {
            case 0:
            case 7:
            case 8:
                change(*at(0));
                break;
            case 1:
                values.insert(at(1), (this->*make)());
                break;
            case 2:
                values.erase(at(0));
                break;
            case 3: {
                auto from = at(0);
                T moved = std::move(*from);
                values.erase(from);
                values.insert(at(1), std::move(moved));
                break;
            }
            case 4:
                at(0)->name = at(0)->name;  // a duplicate name when the two differ
                break;
            case 5:
                values.clear();
                break;
            default:
                std::swap(*at(0), *at(0));
                break;
        }
    }

    std::mt19937 random_;
    std::size_t serial_ = 0;
};

}  // namespace natctl::testing
