#include "controller/model/change.hpp"

#include "controller/model/field_count.hpp"

namespace natctl::model {

// Listed by hand; the field counts catch a field added to the model and not here.
static_assert(field_count<NatGateway>() == 15, "NatGateway changed: update own_fields");
static_assert(field_count<Vpc>() == 8, "Vpc changed: update own_fields");
static_assert(field_count<Ipv4Gateway>() == 6, "Ipv4Gateway changed: update own_fields");

Vpc own_fields(const Vpc& vpc) {
    Vpc out;
    out.name = vpc.name;
    out.cidr = vpc.cidr;
    out.interfaces = vpc.interfaces;
    out.internet_access = vpc.internet_access;
    return out;
}

NatGateway own_fields(const NatGateway& gateway) {
    NatGateway out;
    out.name = gateway.name;
    out.vpc = gateway.vpc;
    out.mode = gateway.mode;
    out.outside_interface = gateway.outside_interface;
    out.upstream = gateway.upstream;
    out.eips = gateway.eips;
    out.icmp_echo_reply = gateway.icmp_echo_reply;
    out.deletion_protection = gateway.deletion_protection;
    out.snat_port_range = gateway.snat_port_range;
    out.port_budget_per_eip = gateway.port_budget_per_eip;
    out.max_ports_per_instance = gateway.max_ports_per_instance;
    out.session_log = gateway.session_log;
    out.assign_eip_addresses = gateway.assign_eip_addresses;
    return out;
}

Ipv4Gateway own_fields(const Ipv4Gateway& gateway) {
    return {gateway.name,     gateway.vpc, gateway.enabled, gateway.outside_interface,
            gateway.upstream, {}};
}

static_assert(field_count<Model>() == 6, "Model changed: update without_dnat_entries");

Model without_dnat_entries(const Model& model) {
    Model out;
    out.version = model.version;
    out.vpcs = model.vpcs;
    out.eips = model.eips;
    out.ipv4_gateways = model.ipv4_gateways;
    out.limits = model.limits;
    out.nat_gateways.reserve(model.nat_gateways.size());
    for (const auto& gateway : model.nat_gateways) {
        out.nat_gateways.push_back(own_fields(gateway));
        out.nat_gateways.back().snat_entries = gateway.snat_entries;
    }
    return out;
}

void adopt_without_dnat_entries(Model& model, Model light) {
    for (std::size_t g = 0; g < light.nat_gateways.size() && g < model.nat_gateways.size(); ++g)
        light.nat_gateways[g].dnat_entries = std::move(model.nat_gateways[g].dnat_entries);
    model = std::move(light);
}

}  // namespace natctl::model
