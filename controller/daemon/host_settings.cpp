#include "controller/daemon/host_settings.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fstream>
#include <set>

#include "netlink/netns.hpp"

namespace natctl::daemon {
namespace {

constexpr std::string_view kIpForward = "net/ipv4/ip_forward";
constexpr std::string_view kConntrackAcct = "net/netfilter/nf_conntrack_acct";
constexpr std::string_view kConntrackMax = "net/netfilter/nf_conntrack_max";
constexpr std::string_view kLooseRpFilter = "2";

std::string rp_filter_path(std::string_view interface) {
    return fmt::format("net/ipv4/conf/{}/rp_filter", interface);
}

// sysctl(8)'s name: dots between the levels, a dot inside an interface name written "/".
std::string sysctl_name(std::string_view path) {
    std::string name(path);
    std::replace(name.begin(), name.end(), '.', '\x01');
    std::replace(name.begin(), name.end(), '/', '.');
    std::replace(name.begin(), name.end(), '\x01', '/');
    return name;
}

std::optional<std::uint64_t> number(const std::optional<std::string>& text) {
    if (!text) return std::nullopt;
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (error != std::errc() || end != text->data() + text->size()) return std::nullopt;
    return value;
}

nlohmann::json json_number(const std::optional<std::uint64_t>& value) {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// Every interface the model programs: the VPCs' inside interfaces and the gateways'
// outside interfaces, each once, sorted.
std::vector<std::string> model_interfaces(const model::Model& model) {
    std::set<std::string> names;
    for (const auto& vpc : model.vpcs)
        names.insert(vpc.interfaces.begin(), vpc.interfaces.end());
    for (const auto& gateway : model.nat_gateways)
        names.insert(gateway.outside_interface);
    for (const auto& gateway : model.ipv4_gateways)
        names.insert(gateway.outside_interface);
    names.erase("");
    return {names.begin(), names.end()};
}

void check_forwarding(const model::Model& model, const Sysctls& sysctls, HostReport& report) {
    auto forward = number(sysctls.read(kIpForward));
    report.values["ip_forward"] = json_number(forward);
    if (model.nat_gateways.empty() && model.ipv4_gateways.empty()) return;
    if (!forward || *forward == 1) return;
    report.findings.push_back({
        .setting = sysctl_name(kIpForward),
        .value = std::to_string(*forward),
        .wanted = "1",
        .reason = "the host does not forward IPv4: no instance reaches the internet and no "
                  "DNAT entry reaches its backend",
        .write_path = std::string(kIpForward),
        .write_value = "1",
    });
}

void check_rp_filter(const model::Model& model, const Sysctls& sysctls, HostReport& report) {
    auto all = number(sysctls.read(rp_filter_path("all")));
    nlohmann::json values = {{"all", json_number(all)}};
    for (const auto& interface : model_interfaces(model)) {
        auto path = rp_filter_path(interface);
        auto own = number(sysctls.read(path));
        values[interface] = json_number(own);
        if (!own) {
            report.findings.push_back({
                .setting = sysctl_name(path),
                .value = "absent",
                .wanted = "an interface",
                .reason = fmt::format("the model names interface {}, which this network "
                                      "namespace does not have",
                                      interface),
            });
            continue;
        }
        // The kernel applies the larger of "all" and the interface's own value.
        auto effective = std::max(*own, all.value_or(0));
        if (effective != 1) continue;
        report.findings.push_back({
            .setting = sysctl_name(path),
            .value = all.value_or(0) == 1 && *own != 1 ? fmt::format("{} (all: 1, strict)", *own)
                                                       : "1 (strict)",
            .wanted = "2 (loose) or 0",
            .reason = "strict reverse-path filtering drops packets whose source the main "
                      "table routes out of another interface, as natctl's policy routes "
                      "make of DNAT and return traffic",
            .write_path = path,
            .write_value = std::string(kLooseRpFilter),
        });
    }
    report.values["rp_filter"] = std::move(values);
}

void check_conntrack(const model::Model& model, const Sysctls& sysctls, HostReport& report) {
    auto max = number(sysctls.read(kConntrackMax));
    auto acct = number(sysctls.read(kConntrackAcct));
    auto budgeted = budgeted_connections(model);
    report.values["nf_conntrack_max"] = json_number(max);
    report.values["budgeted_connections"] = budgeted;
    report.values["nf_conntrack_acct"] = json_number(acct);
    if (max && *max < budgeted)
        report.findings.push_back({
            .setting = sysctl_name(kConntrackMax),
            .value = std::to_string(*max),
            .wanted = fmt::format("at least {}", budgeted),
            .reason = fmt::format(
                "the port budgets admit {} connections to one destination (EIPs x "
                "port_budget_per_eip over every gateway): the conntrack table fills first, and "
                "the kernel then drops new connections of every gateway instead of a budget "
                "refusing them (nf_conntrack_max is host-wide; ~300 bytes per entry)",
                budgeted),
        });
    bool logs_ends = std::ranges::any_of(model.nat_gateways, [](const auto& gateway) {
        return gateway.log_mode() == model::SessionLog::All;
    });
    if (logs_ends && acct && *acct != 1)
        report.findings.push_back({
            .setting = sysctl_name(kConntrackAcct),
            .value = std::to_string(*acct),
            .wanted = "1",
            .reason = "a gateway logs every session, and without conntrack accounting the "
                      "session log's end lines carry no packet and byte counts",
            .write_path = std::string(kConntrackAcct),
            .write_value = "1",
        });
}

}  // namespace

std::optional<std::string> Sysctls::read(std::string_view path) const {
    std::ifstream in(root_ / path);
    if (!in) return std::nullopt;
    std::string value;
    if (!std::getline(in, value)) return std::nullopt;
    while (!value.empty() && (value.back() == '\n' || value.back() == ' ' || value.back() == '\t'))
        value.pop_back();
    return value;
}

std::expected<void, std::string> Sysctls::write(std::string_view path,
                                                std::string_view value) const {
    // No O_CREAT: a sysctl that does not exist is an error, not a new file.
    netlink::FileDescriptor fd(::open((root_ / path).c_str(), O_WRONLY | O_CLOEXEC));
    if (fd.get() < 0) return std::unexpected(std::strerror(errno));
    auto line = std::string(value) + "\n";
    auto written = ::write(fd.get(), line.data(), line.size());
    if (written < 0) return std::unexpected(std::strerror(errno));
    if (static_cast<std::size_t>(written) != line.size()) return std::unexpected("short write");
    return {};
}

std::string HostFinding::describe() const {
    return fmt::format("{} is {}, wanted {}: {}", setting, value, wanted, reason);
}

std::uint64_t budgeted_connections(const model::Model& model) {
    std::uint64_t total = 0;
    for (const auto& gateway : model.nat_gateways) {
        std::uint64_t addresses =
            gateway.effective_mode() == model::GatewayMode::Masquerade ? 1 : gateway.eips.size();
        total += addresses * gateway.port_budget();
    }
    return total;
}

HostReport check_host(const model::Model& model, const Sysctls& sysctls) {
    HostReport report;
    report.values = nlohmann::json::object();
    check_forwarding(model, sysctls, report);
    check_rp_filter(model, sysctls, report);
    check_conntrack(model, sysctls, report);
    return report;
}

std::vector<std::string> apply_host_settings(const HostReport& report, const Sysctls& sysctls) {
    std::vector<std::string> lines;
    for (const auto& finding : report.findings) {
        if (!finding.settable()) continue;
        if (auto written = sysctls.write(finding.write_path, finding.write_value); written)
            lines.push_back(fmt::format("set {} = {} (was {})", sysctl_name(finding.write_path),
                                        finding.write_value, finding.value));
        else
            lines.push_back(fmt::format("could not set {} = {}: {}",
                                        sysctl_name(finding.write_path), finding.write_value,
                                        written.error()));
    }
    return lines;
}

nlohmann::json to_json(const HostReport& report, HostSettingsMode mode) {
    nlohmann::json warnings = nlohmann::json::array();
    for (const auto& finding : report.findings)
        warnings.push_back(finding.describe());
    return {
        {"settings", mode == HostSettingsMode::Set ? "set" : "check"},
        {"values", report.values},
        {"warnings", std::move(warnings)},
    };
}

}  // namespace natctl::daemon
