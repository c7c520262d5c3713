// Benchmark (not a test): programming a DNAT port map of 1k / 10k / 100k elements into a
// throwaway network namespace with one batch on a long-lived socket, against `nft -f` of
// the equivalent text and against `iptables-nft-restore` / `iptables-legacy-restore` of the
// equivalent linear DNAT rules (each run in a fresh namespace); then one element added and
// deleted on the live socket. Prints a markdown table. Needs root.
//
//   bench_apply [RUNS] [--sizes 1000,10000,100000] [--changes 1000] [--results FILE]
//
// --results appends one line per figure, "cold N METRIC MEDIAN MIN MAX" (ms) or
// "cold N METRIC error TEXT", for bench/run.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "netlink/nft_encode.hpp"
#include "netlink/nft_socket.hpp"
#include "tests/support/netns_fixture.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using natctl::netlink::NftSocket;
using natctl::netlink::NftTransaction;
namespace kernel = natctl::kernel;

constexpr std::uint32_t ip(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}

kernel::Set port_map(std::size_t count) {
    kernel::Set set;
    set.name = "dnat_ports";
    set.key = {kernel::FieldType::Ipv4, kernel::FieldType::InetProto,
               kernel::FieldType::InetService};
    set.data = {kernel::FieldType::Ipv4, kernel::FieldType::InetService};
    set.elements.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        auto eip = ip(203, 0, 113, static_cast<std::uint32_t>(1 + i / 50000));
        auto port = static_cast<std::uint32_t>(1024 + i % 50000);
        auto target = ip(10, 0, static_cast<std::uint32_t>((i / 250) % 250),
                         static_cast<std::uint32_t>(1 + i % 250));
        set.elements.push_back({{eip, 6u, port}, {}, {target, 8080u}, {}, {}});
    }
    std::sort(set.elements.begin(), set.elements.end());
    return set;
}

std::string as_nft_text(const kernel::Set& set) {
    std::string text =
        "table ip natctl {\n  map dnat_ports {\n    type ipv4_addr . inet_proto . inet_service : "
        "ipv4_addr . inet_service\n    elements = {\n";
    for (std::size_t i = 0; i < set.elements.size(); ++i) {
        text += "      " + natctl::netlink::describe_element(set, set.elements[i]);
        text += i + 1 < set.elements.size() ? ",\n" : "\n";
    }
    text += "    }\n  }\n}\n";
    return text;
}

double ms(Clock::duration duration) {
    return std::chrono::duration<double, std::milli>(duration).count();
}
double us(Clock::duration duration) {
    return std::chrono::duration<double, std::micro>(duration).count();
}

double percentile(std::vector<double> values, double p) {
    std::sort(values.begin(), values.end());
    auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(index, values.size() - 1)];
}

double median(std::vector<double> values) {
    return percentile(std::move(values), 0.5);
}

// Median with the smallest and largest of the runs.
struct Spread {
    double median = 0, min = 0, max = 0;
};

Spread spread(const std::vector<double>& values) {
    return {median(values), *std::min_element(values.begin(), values.end()),
            *std::max_element(values.begin(), values.end())};
}

std::string cell(const Spread& value) {
    return fmt::format("{:.1f} ({:.1f}–{:.1f})", value.median, value.min, value.max);
}

// Equivalent linear iptables rules: one DNAT rule per element, in the nat table.
std::string as_iptables_text(const kernel::Set& set) {
    std::string text = "*nat\n:PREROUTING ACCEPT [0:0]\n";
    for (const auto& element : set.elements) {
        auto address = [](std::uint32_t value) {
            return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 255, (value >> 8) & 255,
                               value & 255);
        };
        auto eip = std::get<std::uint32_t>(element.key[0]);
        auto port = std::get<std::uint32_t>(element.key[2]);
        auto target = std::get<std::uint32_t>(element.data[0]);
        auto target_port = std::get<std::uint32_t>(element.data[1]);
        text += fmt::format(
            "-A PREROUTING -d {}/32 -p tcp -m tcp --dport {} -j DNAT --to-destination {}:{}\n",
            address(eip), port, address(target), target_port);
    }
    text += "COMMIT\n";
    return text;
}

// A restore tool's time, each run in a fresh namespace; empty (with `error`) if it fails.
std::vector<double> time_restore(const std::string& tool, const std::string& path, int repetitions,
                                 std::string& error) {
    std::vector<double> times;
    if (natctl::testing::run_command(fmt::format("command -v {}", tool)).exit_code != 0) {
        error = tool + " not installed";
        return times;
    }
    for (int r = 0; r < repetitions; ++r) {
        auto netns = natctl::testing::TestNetns::create(&error);
        if (!netns) return {};
        auto scope = netns->enter();
        auto start = Clock::now();
        auto result = natctl::testing::run_command(fmt::format("{} < {}", tool, path));
        auto elapsed = Clock::now() - start;
        if (result.exit_code != 0) {
            error = result.output.substr(0, result.output.find('\n'));
            return {};
        }
        times.push_back(ms(elapsed));
    }
    return times;
}

struct Row {
    std::size_t elements = 0;
    Spread apply, build, kernel, nft, copy, ipt_nft, ipt_legacy;
    std::string ipt_nft_error, ipt_legacy_error;
    std::size_t messages = 0, bytes = 0;
    double add_median_us = 0, add_p99_us = 0, delete_median_us = 0, delete_p99_us = 0;
};

bool measure(std::size_t count, int repetitions, int single_changes, Row& row) {
    std::string error;
    auto netns = natctl::testing::TestNetns::create(&error);
    if (!netns) {
        std::fprintf(stderr, "cannot create a network namespace: %s\n", error.c_str());
        return false;
    }
    auto scope = netns->enter();  // nft children inherit this thread's namespace
    auto opened = NftSocket::open();
    if (!opened) {
        std::fprintf(stderr, "%s\n", opened.error().message.c_str());
        return false;
    }
    auto& socket = **opened;
    auto set = port_map(count);
    row.elements = count;

    std::vector<double> apply, build, kernel_part, nft, copy;
    for (int r = 0; r < repetitions; ++r) {
        // The transaction takes the set by value. Copying it (what a caller that passes a
        // const set pays, e.g. NftTransaction::create_table(const Table&)) is measured
        // separately; the apply starts from a set moved into the transaction.
        auto copy_start = Clock::now();
        auto desired = set;
        copy.push_back(ms(Clock::now() - copy_start));
        auto start = Clock::now();
        NftTransaction transaction;
        transaction.add_table().add_set(std::move(desired));
        auto applied = socket.apply(transaction);
        auto elapsed = Clock::now() - start;
        if (!applied) {
            std::fprintf(stderr, "apply failed: %s\n", applied.error().message.c_str());
            return false;
        }
        apply.push_back(ms(elapsed));
        build.push_back(ms(socket.last_apply_stats().build));
        row.messages = socket.last_apply_stats().messages;
        row.bytes = socket.last_apply_stats().bytes;
        kernel_part.push_back(ms(socket.last_apply_stats().kernel));
        if (!socket.apply(NftTransaction().delete_table())) return false;
        // The kernel frees the deleted table's objects in a worker after the commit; let it
        // finish so that the next cold apply does not compete with it for the CPU.
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    auto path = fmt::format("/tmp/natctl-bench-{}-{}.nft", ::getpid(), count);
    {
        std::ofstream out(path);
        out << as_nft_text(set);
    }
    for (int r = 0; r < repetitions; ++r) {
        auto start = Clock::now();
        auto result = natctl::testing::run_command(fmt::format("nft -f {}", path));
        auto elapsed = Clock::now() - start;
        if (result.exit_code != 0) {
            std::fprintf(stderr, "nft -f failed: %s\n", result.output.c_str());
            ::unlink(path.c_str());
            return false;
        }
        nft.push_back(ms(elapsed));
        natctl::testing::run_command("nft delete table ip natctl");
    }
    ::unlink(path.c_str());
    {
        std::ofstream out(path);
        out << as_iptables_text(set);
    }
    auto ipt_nft = time_restore("iptables-nft-restore", path, repetitions, row.ipt_nft_error);
    auto ipt_legacy =
        time_restore("iptables-legacy-restore", path, repetitions, row.ipt_legacy_error);
    ::unlink(path.c_str());
    if (!ipt_nft.empty()) row.ipt_nft = spread(ipt_nft);
    if (!ipt_legacy.empty()) row.ipt_legacy = spread(ipt_legacy);
    row.apply = spread(apply);
    row.build = spread(build);
    row.kernel = spread(kernel_part);
    row.nft = spread(nft);
    row.copy = spread(copy);

    // One element added and deleted on the live socket, the map holding `count` elements.
    if (!socket.apply(NftTransaction().add_table().add_set(set))) return false;
    auto one = set;
    std::vector<double> adds, deletes;
    for (int i = 0; i < single_changes; ++i) {
        one.elements = {{{ip(198, 51, 100, 7), 17u, static_cast<std::uint32_t>(1000 + i % 50)},
                         {},
                         {ip(10, 9, 9, 9), 53u},
                         {},
                         {}}};
        auto start = Clock::now();
        auto added = socket.apply(NftTransaction().add_elements(one));
        auto middle = Clock::now();
        auto deleted = socket.apply(NftTransaction().delete_elements(one));
        auto end = Clock::now();
        if (!added || !deleted) {
            std::fprintf(stderr, "single change failed\n");
            return false;
        }
        adds.push_back(us(middle - start));
        deletes.push_back(us(end - middle));
    }
    row.add_median_us = median(adds);
    row.add_p99_us = percentile(adds, 0.99);
    row.delete_median_us = median(deletes);
    row.delete_p99_us = percentile(deletes, 0.99);
    return true;
}

}  // namespace

namespace {

std::string restore_cell(const Spread& value, const std::string& error) {
    return error.empty() ? cell(value) : "n/a";
}

void write_results(const std::string& path, const std::vector<Row>& rows) {
    std::ofstream out(path, std::ios::app);
    auto line = [&out](std::size_t n, const char* metric, const Spread& value,
                       const std::string& error = {}) {
        if (error.empty())
            out << fmt::format("cold {} {} {:.3f} {:.3f} {:.3f}\n", n, metric, value.median,
                               value.min, value.max);
        else
            out << fmt::format("cold {} {} error {}\n", n, metric, error);
    };
    for (const auto& row : rows) {
        line(row.elements, "natctl", row.apply);
        line(row.elements, "build", row.build);
        line(row.elements, "kernel", row.kernel);
        line(row.elements, "nft", row.nft);
        line(row.elements, "iptables-nft", row.ipt_nft, row.ipt_nft_error);
        line(row.elements, "iptables-legacy", row.ipt_legacy, row.ipt_legacy_error);
        out << fmt::format("live {} add_us {:.1f} {:.1f}\n", row.elements, row.add_median_us,
                           row.add_p99_us);
        out << fmt::format("live {} delete_us {:.1f} {:.1f}\n", row.elements, row.delete_median_us,
                           row.delete_p99_us);
        out << fmt::format("batch {} {} {}\n", row.elements, row.messages, row.bytes);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (::geteuid() != 0) {
        std::fprintf(stderr, "bench_apply needs root (it creates a network namespace)\n");
        return 77;
    }
    int repetitions = 5;
    int changes = 1000;
    std::vector<std::size_t> sizes = {1000, 10000, 100000};
    std::string results;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--sizes" && i + 1 < argc) {
            sizes.clear();
            for (std::string_view list = argv[++i]; !list.empty();) {
                auto comma = list.find(',');
                sizes.push_back(
                    std::strtoul(std::string(list.substr(0, comma)).c_str(), nullptr, 10));
                list =
                    comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
            }
        } else if (arg == "--changes" && i + 1 < argc) {
            changes = std::atoi(argv[++i]);
        } else if (arg == "--results" && i + 1 < argc) {
            results = argv[++i];
        } else {
            repetitions = std::atoi(argv[i]);
        }
    }
    if (repetitions < 1 || changes < 1 || sizes.empty()) {
        std::fprintf(stderr,
                     "usage: bench_apply [RUNS] [--sizes N,N...] [--changes K] [--results FILE]\n");
        return 2;
    }
    std::vector<Row> rows;
    for (std::size_t count : sizes) {
        Row row;
        if (!measure(count, repetitions, changes, row)) return 1;
        rows.push_back(row);
    }
    if (!results.empty()) write_results(results, rows);
    std::printf(
        "Cold apply of a DNAT port map: median (min–max) of %d runs; one-element changes on the "
        "live socket (%d each)\n\n",
        repetitions, changes);
    std::printf(
        "| elements | natctl apply ms | build ms | kernel ms (sendto+ACKs) | apply / kernel | "
        "nft -f ms | nft -f / apply | iptables-nft-restore ms | iptables-legacy-restore ms | add "
        "median us | add p99 us | delete median us | delete p99 "
        "us |\n");
    std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const auto& row : rows)
        std::printf(
            "%s", fmt::format("| {} | {} | {} | {} | {:.2f}x | {} | {:.1f}x | {} | {} | {:.0f} | "
                              "{:.0f} | {:.0f} | {:.0f} |\n",
                              row.elements, cell(row.apply), cell(row.build), cell(row.kernel),
                              row.apply.median / row.kernel.median, cell(row.nft),
                              row.nft.median / row.apply.median,
                              restore_cell(row.ipt_nft, row.ipt_nft_error),
                              restore_cell(row.ipt_legacy, row.ipt_legacy_error), row.add_median_us,
                              row.add_p99_us, row.delete_median_us, row.delete_p99_us)
                      .c_str());
    std::printf(
        "\n| elements | batch messages | batch bytes | copy of the set ms (not in apply) |\n");
    std::printf("|---:|---:|---:|---:|\n");
    for (const auto& row : rows)
        std::printf("%s", fmt::format("| {} | {} | {} | {} |\n", row.elements, row.messages,
                                      row.bytes, cell(row.copy))
                              .c_str());
    return 0;
}
