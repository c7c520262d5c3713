// natctld's host checks (controller/daemon/host_settings.hpp) against a /proc/sys made of
// files in a temporary directory; the reload record that `natctld --reload` waits on.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/daemon/config.hpp"
#include "controller/daemon/host_settings.hpp"
#include "controller/daemon/reload.hpp"
#include "controller/model/validate.hpp"
#include "temp_dir.hpp"

using namespace natctl;
using natctl::daemon::HostFinding;
using natctl::daemon::Sysctls;

namespace {

// examples/quickstart.json: VPC interface veth-vpc, one gateway on veth-wan with two EIPs
// and the default budget of 55000.
model::Model quickstart() {
    std::ifstream file(std::string(NATCTL_SOURCE_DIR) + "/examples/quickstart.json");
    std::stringstream text;
    text << file.rdbuf();
    auto model = model::load_model(text.str());
    REQUIRE(model.has_value());
    return *model;
}

class FakeProcSys {
  public:
    FakeProcSys() : dir_("host-settings") {}
    void set(const std::string& path, const std::string& value) {
        std::filesystem::create_directories((dir_.path() / path).parent_path());
        std::ofstream(dir_.path() / path) << value << "\n";
    }
    std::string get(const std::string& path) const {
        std::string value;
        std::ifstream(dir_.path() / path) >> value;
        return value;
    }
    Sysctls sysctls() const { return Sysctls(dir_.path()); }

  private:
    testing::TempDir dir_;
};

// A host that suits quickstart.json.
void suitable(FakeProcSys& proc) {
    proc.set("net/ipv4/ip_forward", "1");
    proc.set("net/ipv4/conf/all/rp_filter", "0");
    proc.set("net/ipv4/conf/veth-vpc/rp_filter", "2");
    proc.set("net/ipv4/conf/veth-wan/rp_filter", "0");
    proc.set("net/netfilter/nf_conntrack_max", "262144");
    proc.set("net/netfilter/nf_conntrack_acct", "0");
}

std::vector<std::string> settings(const daemon::HostReport& report) {
    std::vector<std::string> names;
    for (const auto& finding : report.findings)
        names.push_back(finding.setting);
    return names;
}

}  // namespace

TEST_CASE("host: a suitable host has no findings, and the values are reported", "[daemon]") {
    FakeProcSys proc;
    suitable(proc);
    auto report = daemon::check_host(quickstart(), proc.sysctls());
    CHECK(report.findings.empty());
    CHECK(report.values["ip_forward"] == 1);
    CHECK(report.values["rp_filter"]["veth-wan"] == 0);
    CHECK(report.values["nf_conntrack_max"] == 262144);
    CHECK(report.values["budgeted_connections"] == 2 * 55000);
    auto status = daemon::to_json(report, daemon::HostSettingsMode::Check);
    CHECK(status["settings"] == "check");
    CHECK(status["warnings"] == nlohmann::json::array());
}

TEST_CASE("host: forwarding off, strict rp_filter and a small conntrack table are found",
          "[daemon]") {
    FakeProcSys proc;
    suitable(proc);
    proc.set("net/ipv4/ip_forward", "0");
    proc.set("net/ipv4/conf/veth-wan/rp_filter", "1");
    proc.set("net/netfilter/nf_conntrack_max", "65536");
    auto report = daemon::check_host(quickstart(), proc.sysctls());
    CHECK(settings(report) == std::vector<std::string>{"net.ipv4.ip_forward",
                                                       "net.ipv4.conf.veth-wan.rp_filter",
                                                       "net.netfilter.nf_conntrack_max"});
    CHECK(report.findings[0].describe().starts_with("net.ipv4.ip_forward is 0, wanted 1: "));
    CHECK(report.findings[1].value == "1 (strict)");
    CHECK(report.findings[2].wanted == "at least 110000");
    CHECK_FALSE(report.findings[2].settable());  // memory is the admin's call
}

TEST_CASE("host: \"set\" fixes what is safe and leaves nf_conntrack_max alone", "[daemon]") {
    FakeProcSys proc;
    suitable(proc);
    proc.set("net/ipv4/ip_forward", "0");
    proc.set("net/ipv4/conf/veth-vpc/rp_filter", "1");
    proc.set("net/netfilter/nf_conntrack_max", "1000");
    auto sysctls = proc.sysctls();
    auto lines = daemon::apply_host_settings(daemon::check_host(quickstart(), sysctls), sysctls);
    CHECK(lines == std::vector<std::string>{"set net.ipv4.ip_forward = 1 (was 0)",
                                            "set net.ipv4.conf.veth-vpc.rp_filter = 2 (was 1 "
                                            "(strict))"});
    CHECK(proc.get("net/ipv4/ip_forward") == "1");
    CHECK(proc.get("net/ipv4/conf/veth-vpc/rp_filter") == "2");
    CHECK(proc.get("net/netfilter/nf_conntrack_max") == "1000");
    CHECK(settings(daemon::check_host(quickstart(), sysctls)) ==
          std::vector<std::string>{"net.netfilter.nf_conntrack_max"});
}

TEST_CASE("host: rp_filter is the larger of all and the interface's own value", "[daemon]") {
    FakeProcSys proc;
    suitable(proc);
    proc.set("net/ipv4/conf/all/rp_filter", "1");
    auto sysctls = proc.sysctls();
    auto report = daemon::check_host(quickstart(), sysctls);
    // veth-vpc has 2 (loose wins over all's 1); veth-wan's 0 is strict through "all".
    REQUIRE(settings(report) == std::vector<std::string>{"net.ipv4.conf.veth-wan.rp_filter"});
    CHECK(report.findings[0].value == "0 (all: 1, strict)");
    daemon::apply_host_settings(report, sysctls);
    CHECK(proc.get("net/ipv4/conf/veth-wan/rp_filter") == "2");
    CHECK(proc.get("net/ipv4/conf/all/rp_filter") == "1");  // the host's own choice stays
    CHECK(daemon::check_host(quickstart(), sysctls).findings.empty());
}

TEST_CASE("host: an interface the namespace lacks is named, and never created", "[daemon]") {
    FakeProcSys proc;
    suitable(proc);
    auto model = quickstart();
    model.vpcs[0].interfaces.push_back("eth0.100");
    auto sysctls = proc.sysctls();
    auto report = daemon::check_host(model, sysctls);
    REQUIRE(settings(report) == std::vector<std::string>{"net.ipv4.conf.eth0/100.rp_filter"});
    CHECK_FALSE(report.findings[0].settable());
    CHECK(daemon::apply_host_settings(report, sysctls).empty());
    CHECK_FALSE(sysctls.write("net/ipv4/conf/eth0.100/rp_filter", "2").has_value());
    CHECK_FALSE(sysctls.read("net/ipv4/conf/eth0.100/rp_filter").has_value());
}

TEST_CASE("host: conntrack accounting only for a gateway that logs every session", "[daemon]") {
    FakeProcSys proc;
    suitable(proc);
    auto model = quickstart();
    model.nat_gateways[0].session_log = model::SessionLog::Errors;
    CHECK(daemon::check_host(model, proc.sysctls()).findings.empty());
    model.nat_gateways[0].session_log = model::SessionLog::All;
    auto report = daemon::check_host(model, proc.sysctls());
    REQUIRE(settings(report) == std::vector<std::string>{"net.netfilter.nf_conntrack_acct"});
    CHECK(report.findings[0].settable());
}

TEST_CASE("host: an empty model needs no forwarding; budgets count a masquerade address once",
          "[daemon]") {
    FakeProcSys proc;
    suitable(proc);
    proc.set("net/ipv4/ip_forward", "0");
    CHECK(daemon::check_host(model::Model{}, proc.sysctls()).findings.empty());
    auto model = quickstart();
    model.nat_gateways[0].port_budget_per_eip = 1000;
    CHECK(daemon::budgeted_connections(model) == 2000);
    model.nat_gateways[0].mode = model::GatewayMode::Masquerade;
    CHECK(daemon::budgeted_connections(model) == 1000);
}

TEST_CASE("daemon config: host_settings is check or set", "[daemon]") {
    CHECK(daemon::parse_daemon_config("{}")->host_settings == daemon::HostSettingsMode::Check);
    CHECK(daemon::parse_daemon_config(R"({"host_settings": "set"})")->host_settings ==
          daemon::HostSettingsMode::Set);
    CHECK(daemon::parse_daemon_config(R"({"host_settings": "apply"})").error() ==
          "host_settings: expected \"check\" or \"set\"");
}

TEST_CASE("packaging: the installed natctld.json is a valid settings file", "[daemon]") {
    auto config =
        daemon::load_daemon_config(std::string(NATCTL_SOURCE_DIR) + "/packaging/natctld.json");
    REQUIRE(config.has_value());
    CHECK(config->host_settings == daemon::HostSettingsMode::Check);
}

TEST_CASE("reload record: written atomically, read back, other lines refused", "[daemon]") {
    testing::TempDir dir("reload");
    auto path = daemon::reload_record_path(dir.path() / "natctld.sock");
    CHECK(path == dir.path() / "natctld.reload");
    CHECK_FALSE(daemon::read_reload_record(path).has_value());
    REQUIRE(daemon::write_reload_record(path, {4242, 0, ""}).has_value());
    CHECK(daemon::read_reload_record(path) == daemon::ReloadRecord{4242, 0, ""});
    REQUIRE(daemon::write_reload_record(path, {4242, 3, "x.json: not valid JSON"}).has_value());
    CHECK(daemon::read_reload_record(path) ==
          daemon::ReloadRecord{4242, 3, "x.json: not valid JSON"});
    std::ofstream(path) << "4242 nonsense\n";
    CHECK_FALSE(daemon::read_reload_record(path).has_value());
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path()),
                        std::filesystem::directory_iterator()) == 1);  // no temporary left
}
