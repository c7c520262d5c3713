// The compiler: a pure function from a *validated* model to the kernel state natctl wants
// (docs/KERNEL-LAYOUT.md). Deterministic: equal models give equal states, every list sorted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "controller/model/types.hpp"
#include "kernelstate/kernel_state.hpp"

namespace natctl::compiler {

kernel::DesiredState compile(const model::Model& model);

// compile(model).table.chains alone, without the sets, their elements and routing: cheap
// whatever the number of port mappings, for readers of rule counters (the budget metrics),
// which need to know which rule counts what after every revision.
std::vector<kernel::Chain> compile_chains(const model::Model& model);

// The mark return_marks gives replies to traffic that arrived by NAT gateway `gateway`
// (index in model.nat_gateways): from the gateways' identities alone, without compiling the
// sets, so in time independent of the number of DNAT entries.
std::uint32_t nat_gateway_return_mark(const model::Model& model, std::size_t gateway);

// The source prefixes of a SNAT entry of a gateway in VPC `home` (DESIGN.md: a VPC, a
// vSwitch, every private IP of an instance, a CIDR): what compile() flattens into
// snat_sources and what the translation index resolves, so that the two cannot disagree.
std::vector<model::Cidr> snat_source_prefixes(const model::Model& model, const model::Vpc& home,
                                              const model::SnatSource& source);

// An EIP associated with an instance, resolved: the VPC of the instance and the private IP
// the EIP is 1:1 with (the instance's first unless the EIP names one). In document order;
// what compile() programs and what the translation index resolves.
struct InstanceEip {
    std::size_t vpc = 0;
    std::size_t eip = 0;  // index in model.eips
    std::uint32_t address = 0;
    std::uint32_t private_ip = 0;
};
std::vector<InstanceEip> instance_eips(const model::Model& model);

}  // namespace natctl::compiler
