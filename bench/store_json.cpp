// The cost of the store's whole-model JSON on bench/run's model shape (one gateway with N DNAT
// entries): the snapshot text (store::dump_model), a whole-model write's journal delta
// (typed_diff from an empty model with LargeValues::Text, then its text) and the model's
// JSON tree dumped (model::to_json, what GET /v1/config answers). Prints the median, min and
// max of RUNS runs of each, and the text sizes.
//
//   build/bench/store_json [N [RUNS]]      (default: 100000 7)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "controller/model/json.hpp"
#include "controller/store/typed_delta.hpp"

namespace {

using namespace natctl;

model::Model bench_model(int entries) {
    model::Model m;
    m.limits = model::Limits{.dnat_entries_per_nat_gateway = std::uint32_t(entries + 1000)};
    m.vpcs.push_back({.name = "vpc-b",
                      .cidr = {{0x0a1e0000}, 16},
                      .interfaces = {"veth-vpc"},
                      .vswitches = {{"vsw-b", {{0x0a1e0000}, 16}, "rt-b"}},
                      .route_tables = {{"rt-b", {{{{0}, 0}, model::NatGatewayHop{"ngw-b"}}}}}});
    m.eips.push_back({.name = "eip-snat", .address = {0xcb007109}});
    model::NatGateway gateway{.name = "ngw-b",
                              .vpc = "vpc-b",
                              .outside_interface = "veth-wan",
                              .upstream = {0xc6336401},
                              .eips = {"eip-snat"}};
    for (std::uint32_t e = 0; e < 4; ++e) {
        m.eips.push_back({.name = fmt::format("eip-d{}", e), .address = {0xcb00710a + e}});
        gateway.eips.push_back(fmt::format("eip-d{}", e));
    }
    gateway.snat_entries.push_back({"snat-b", model::VSwitchSource{"vsw-b"}, {"eip-snat"}, {}});
    for (int i = 0; i < entries; ++i) {
        const auto port = std::uint16_t(1025 + i / 4);
        gateway.dnat_entries.push_back(
            {.name = fmt::format("d{}", i),
             .eip = fmt::format("eip-d{}", i % 4),
             .protocol = model::DnatProtocol::Tcp,
             .public_port = model::PortRange{port, port},
             .private_ip = {0x0a1e0000 + std::uint32_t((i / 240) % 250 + 2) * 256 + i % 240 + 10},
             .private_port = model::PortRange{8000, 8000}});
    }
    m.nat_gateways.push_back(std::move(gateway));
    return m;
}

template <class Run>
void measure(const char* what, int runs, Run run) {
    using Clock = std::chrono::steady_clock;
    std::vector<double> ms(static_cast<std::size_t>(runs));
    std::size_t size = 0;
    for (auto& took : ms) {
        const auto start = Clock::now();
        size = run();
        took = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    }
    std::ranges::sort(ms);
    fmt::print("{:<20} {:>9} bytes: median {:.1f} ms, min {:.1f} ms, max {:.1f} ms\n", what, size,
               ms[ms.size() / 2], ms.front(), ms.back());
}

}  // namespace

int main(int argc, char** argv) {
    const int entries = argc > 1 ? std::atoi(argv[1]) : 100000;
    const int runs = std::max(1, argc > 2 ? std::atoi(argv[2]) : 7);
    const model::Model m = bench_model(entries);
    measure("store::dump_model", runs, [&] { return store::dump_model(m).size(); });
    measure("typed_diff text", runs, [&] {
        model::Model empty;
        auto delta = store::typed_diff(empty, m, store::LargeValues::Text);
        return delta.forward_text().size() + delta.reverse_text().size();
    });
    measure("model::to_json dump", runs, [&] { return model::to_json(m).dump().size(); });
}
