// natctl-apply: loads a model, compiles it and reconciles the kernel of the network
// namespace it runs in, once (`ip netns exec GW natctl-apply -f model.json`). The
// end-to-end suite and the benchmarks drive the data plane with it until natctld takes
// over; it runs exactly the code path the daemon uses.
#include <fmt/format.h>

#include <time.h>

#include <chrono>

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>

#include "controller/compiler/compile.hpp"
#include "controller/compiler/translations.hpp"
#include "controller/model/json.hpp"
#include "controller/model/validate.hpp"
#include "controller/reconciler/reconciler.hpp"
#include "controller/store/file_io.hpp"
#include "netlink/conntrack_socket.hpp"
#include "netlink/nft_probe.hpp"
#include "netlink/nft_socket.hpp"
#include "netlink/route_socket.hpp"

int main(int argc, char** argv) {
    CLI::App app{"Apply a natctl model to the kernel of the current network namespace, once"};
    std::string file;
    bool dry_run = false;
    bool keep_conntrack = false;
    bool timings = false;
    app.add_option("-f,--file", file, "model document (JSON)")->required();
    app.add_flag("--dry-run", dry_run, "print what would change, change nothing");
    app.add_flag("--keep-conntrack", keep_conntrack,
                 "leave conntrack alone (no deletion of sessions of removed mappings)");
    app.add_flag("--timings", timings,
                 "print how long each stage took (read, parse, validate, compile, apply)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }

    // Wall and CPU time (user + system, the kernel's netlink work included) per stage: on a
    // shared machine the CPU figures are the ones that compare between runs.
    using Clock = std::chrono::steady_clock;
    auto cpu_now = [] {
        timespec now{};
        ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
        return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
    };
    auto stage_start = Clock::now();
    auto stage_cpu = cpu_now();
    std::string stages;
    auto stage = [&](const char* name) {
        const auto now = Clock::now();
        const auto cpu = cpu_now();
        stages += fmt::format(" {} {:.1f}/{:.1f}", name,
                              std::chrono::duration<double, std::milli>(now - stage_start).count(),
                              cpu - stage_cpu);
        stage_start = now;
        stage_cpu = cpu;
    };
    // One read() per 64 KiB into a string sized once: a stringstream copies 12 MB twice.
    auto text = natctl::store::read_file(file);
    if (!text) {
        fmt::print(stderr, "natctl-apply: cannot read {}: {}\n", file, text.error());
        return 2;
    }
    stage("read");
    // load_model's two halves, timed apart (the JSON reader and the validator).
    auto model = natctl::model::parse_model(*text);
    stage("parse");
    if (model) {
        auto errors = natctl::model::validate(*model);
        if (!errors.empty()) model = std::unexpected(std::move(errors));
    }
    stage("validate");
    if (!model) {
        for (const auto& error : model.error())
            fmt::print(stderr, "{}: {}\n", error.path, error.reason);
        return 1;
    }
    auto desired = natctl::compiler::compile(*model);
    auto translations = natctl::compiler::index_translations(*model);
    stage("compile");

    fmt::print("kernel: {}\n", natctl::netlink::probe_kernel_features().flowtable_message);
    auto nft = natctl::netlink::NftSocket::open();
    if (!nft) {
        fmt::print(stderr, "natctl-apply: {}\n", nft.error().message);
        return 1;
    }
    auto routes = natctl::netlink::RouteSocket::open();
    if (!routes) {
        fmt::print(stderr, "natctl-apply: {}\n", routes.error());
        return 1;
    }
    std::optional<natctl::netlink::ConntrackSocket> conntrack;
    if (!keep_conntrack) {
        auto opened = natctl::netlink::ConntrackSocket::open();
        if (opened)
            conntrack.emplace(std::move(*opened));
        else  // the ruleset is still applied; only stale sessions are not cleaned up
            fmt::print(stderr, "natctl-apply: conntrack hygiene off: {}\n", opened.error().message);
    }
    natctl::reconciler::Reconciler reconciler(**nft, *routes, conntrack ? &*conntrack : nullptr);
    stage("open");
    // Moved in: the reconciler keeps it as its committed copy (no copy of 100k elements).
    auto outcome = dry_run ? reconciler.plan(desired, &translations)
                           : reconciler.apply(std::move(desired), &translations);
    stage(dry_run ? "plan" : "apply");
    if (!outcome) {
        fmt::print(stderr, "natctl-apply: {}\n", natctl::util::describe(outcome.error()));
        return 1;
    }
    const auto& nft_plan = outcome->nft;
    fmt::print("{}: sets +{} -{}, chains +{} ~{} -{}, elements +{} -{}, route ops {}{}{}\n",
               dry_run ? "plan" : "applied", nft_plan.sets_added, nft_plan.sets_removed,
               nft_plan.chains_added, nft_plan.chains_rewritten, nft_plan.chains_removed,
               nft_plan.elements_added, nft_plan.elements_removed, outcome->route_operations,
               nft_plan.table_created ? ", table created" : "",
               nft_plan.table_rebuilt ? ", table rebuilt" : "");
    if (timings) fmt::print("timings ms wall/cpu:{}\n", stages);
    if (outcome->conntrack_removed)
        fmt::print("conntrack: {} stale entries {}\n", *outcome->conntrack_removed,
                   dry_run ? "would be removed" : "removed");
    if (!outcome->conntrack_error.empty()) {
        fmt::print(stderr, "natctl-apply: conntrack: {}\n", outcome->conntrack_error);
        return 1;
    }
    return 0;
}
