// The model edits behind the per-object endpoints: where each kind lives, how its body is
// read, and the rules that refuse an edit before validation would (deletion protection,
// force, EIP association, IPv4 gateway delete modes). Pure: they change a model copy.
#pragma once

#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/api/http.hpp"
#include "controller/model/types.hpp"

namespace natctl::api {

// Side effects of an edit the caller asked for only indirectly, reported in the plan.
using Notes = std::vector<std::string>;
// Edits the model in place, or refuses.
using Edit = std::function<std::optional<Failure>(model::Model&, Notes&)>;

template <class T>
struct Collection {
    std::string kind;                 // for messages: "vswitch"
    std::string name_field = "name";  // the body field that names it
    // The vector holding the objects; the path's names (parents first, then the object's)
    // select it. Fails with 404 when a parent does not exist.
    std::function<std::expected<std::vector<T>*, Failure>(model::Model&,
                                                          const std::vector<std::string>&)>
        locate;
    std::expected<T, model::Errors> (*parse)(const nlohmann::json&) = nullptr;
    std::string (*name_of)(const T&) = nullptr;
    // The object's name as written in the path → its name in the model.
    std::string (*key)(const std::string&) = [](const std::string& name) { return name; };
    // Refuses a DELETE, or makes the changes it implies (a forced delete). May be empty.
    std::function<std::optional<Failure>(model::Model&, const T&, const Target&, Notes&)>
        before_delete;
};

Collection<model::Vpc> vpcs();
Collection<model::VSwitch> vswitches();
Collection<model::Instance> instances();
Collection<model::RouteTable> route_tables();
Collection<model::Route> routes();
Collection<model::Eip> eips();
Collection<model::NatGateway> nat_gateways();  // DELETE: ?force=1
Collection<model::SnatEntry> snat_entries();
Collection<model::DnatEntry> dnat_entries();
Collection<model::Ipv4Gateway> ipv4_gateways();  // DELETE: ?mode=private|public

// The routes whose next hop is the NAT gateway / IPv4 gateway `name`, each as its path in
// the model and "table:destination" (the system route table by its effective name).
std::vector<model::Error> routes_to_nat_gateway(const model::Model& m, const std::string& name);
std::vector<model::Error> routes_to_ipv4_gateway(const model::Model& m, const std::string& name);

Edit edit_limits(const std::string& body);
Edit associate_eip(std::string gateway, std::string eip);
Edit disassociate_eip(std::string gateway, std::string eip);
// `route_tables` (enable only): the VPC's route tables to switch to the gateway, each
// getting 0.0.0.0/0 -> it; refused (409, naming the route) where one has a default route.
Edit enable_ipv4_gateway(std::string gateway, bool enable,
                         std::vector<std::string> route_tables = {});
// An enabled IPv4 gateway gives its VPC internet access again: a VPC made private by a
// delete in private mode stops being private (noted).
void end_private_internet(model::Model& m, const std::string& vpc, Notes& notes);

}  // namespace natctl::api
