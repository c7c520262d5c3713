// The store's share of a whole-model write (issue 16 item 2): a 100k-entry model committed
// into an empty store, then replaced by a model whose entries all differ. Hidden; run with
// `unit_tests "[store-bench-whole]"`. Only the public Store interface, so that the same file
// measures older store code.
#include <fmt/format.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <string>

#include "controller/store/store.hpp"
#include "tests/unit/model_edits.hpp"
#include "tests/unit/temp_dir.hpp"

namespace {

using natctl::model::Model;

// A /proc/self/status field in MiB.
long status_mib(const std::string& field) {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1)) / 1024;
    return -1;
}

// Starts VmHWM again from the current RSS (Linux: clear_refs 5).
void reset_peak() {
    std::ofstream("/proc/self/clear_refs") << "5";
}

Model gateway_with(std::size_t entries, const std::string& suffix) {
    Model model;
    model.version = 1;
    natctl::model::NatGateway gateway;
    gateway.name = "ngw-bench";
    gateway.vpc = "vpc-bench";
    gateway.outside_interface = "veth-wan";
    gateway.eips = {"eip-1"};
    for (std::size_t i = 0; i < entries; ++i) {
        gateway.dnat_entries.push_back(natctl::testing::dnat(i));
        gateway.dnat_entries.back().name += suffix;
    }
    model.nat_gateways.push_back(std::move(gateway));
    return model;
}

}  // namespace

TEST_CASE("store: a whole-model commit: time and peak memory", "[.][store-bench-whole]") {
    constexpr std::size_t entries = 100000;
    natctl::testing::TempDir temp{"store"};
    auto opened = natctl::store::Store::open(temp.state());
    REQUIRE(opened.has_value());
    auto& store = **opened;
    auto measure = [&](Model model, const char* what) {
        const long rss = status_mib("VmRSS");
        reset_peak();
        const auto start = std::chrono::steady_clock::now();
        REQUIRE(store.commit_moved(std::move(model), "uid 0", what));
        const auto elapsed =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        WARN(
            fmt::format("{} ({} entries): {:.0f} ms (incl. fsync), peak {} MiB over the {} MiB "
                        "before",
                        what, entries, elapsed, status_mib("VmHWM") - rss, rss));
    };
    measure(gateway_with(entries, ""), "load into an empty store");
    measure(gateway_with(entries, "-b"), "replace every entry");
}
