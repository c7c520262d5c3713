#include "cli/object_commands.hpp"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/core.h>

#include "cli/daemon_session.hpp"
#include "cli/exit_codes.hpp"
#include "cli/input_file.hpp"
#include "cli/object_requests.hpp"

namespace natctl::cli {

namespace {

using nlohmann::json;

// What one verb's parser fills in. The field flags are bound to `values`; only those the
// user gave (count() > 0) become fields, so that `modify` leaves the others as they are.
struct VerbOptions {
    ObjectCommand command;
    std::string file;
    std::map<std::string, std::vector<std::string>> values;
    std::vector<std::pair<std::string, CLI::Option*>> field_options;
};

int run_verb(const GlobalOptions& globals, const VerbOptions& options) {
    ObjectCommand command = options.command;
    for (const auto& [key, option] : options.field_options)
        if (option->count() > 0) command.fields[key] = options.values.at(key);
    if (!options.file.empty()) {
        auto text = read_input_file(options.file);
        if (!text) {
            print_failure(text.error());
            return kExitUsage;
        }
        json body = json::parse(*text, nullptr, /*allow_exceptions=*/false);
        if (body.is_discarded()) {
            fmt::print(stderr, "(document): {} is not valid JSON\n", options.file);
            return kExitRefused;
        }
        command.file_body = std::move(body);
    }
    // A bad command line is reported as such (exit 2) even when the daemon is down: check
    // the mapping before the round trip. Only `modify` needs the model, to find the object
    // it edits; its "not found" waits for the real model.
    if (auto early = build_request(command, json::object());
        !early && early.error().exit_code == kExitUsage) {
        print_failure(early.error().message);
        return kExitUsage;
    }
    Session session(globals);
    auto config = session.read_config();
    if (!config) return config.error();
    auto request = build_request(command, config->model);
    if (!request) {
        print_failure(request.error().message);
        return request.error().exit_code;
    }
    return session.write(*request, config->etag, command.dry_run);
}

class VerbBuilder {
  public:
    VerbBuilder(CLI::App& group, const GlobalOptions& globals, int& exit_code, Kind kind)
        : group_(group), globals_(globals), exit_code_(exit_code), kind_(kind) {}

    // One verb: its options are registered by `setup`, then its run is wired.
    template <class Setup>
    void verb(const std::string& name, Verb verb, const std::string& description,
              const std::string& example, Setup setup) {
        auto* command = group_.add_subcommand(name, description);
        auto options = std::make_shared<VerbOptions>();
        options->command.kind = kind_;
        options->command.verb = verb;
        setup(*command, *options);
        command->add_flag("--dry-run", options->command.dry_run,
                          "Print the plan only; change nothing");
        command->footer("Example:\n  " + example);
        command->callback([&globals = globals_, options, &exit_code = exit_code_] {
            exit_code = run_verb(globals, *options);
        });
    }

  private:
    CLI::App& group_;
    const GlobalOptions& globals_;
    int& exit_code_;
    Kind kind_;
};

void add_name(CLI::App& command, VerbOptions& options, const std::string& what) {
    command.add_option("name", options.command.name, "Name of the " + what)
        ->required()
        ->type_name("NAME");
}

CLI::Option* add_gateway_parent(CLI::App& command, VerbOptions& options, bool required = true) {
    return command.add_option("--gateway", options.command.parent, "The NAT gateway")
        ->required(required)
        ->type_name("GW");
}

// The object's fields as flags, and -f FILE with the object's JSON; flags override the file.
void add_body(CLI::App& command, VerbOptions& options, Kind kind) {
    command.add_option("-f,--file", options.file, "The object's JSON (flags override its fields)")
        ->type_name("FILE");
    for (const auto& spec : object_fields(kind)) {
        auto& storage = options.values[std::string(spec.key)];
        auto* option =
            command.add_option("--" + std::string(spec.flag), storage, std::string(spec.help));
        // One value per occurrence: a list flag repeats (--eip a --eip b) instead of
        // swallowing the positional NAME that may follow it.
        option->allow_extra_args(false);
        option->type_name(spec.type == FieldType::OnOff ? "on|off" : "VALUE");
        options.field_options.emplace_back(std::string(spec.key), option);
    }
}

void add_gateway_group(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    auto* group = app.add_subcommand("gateway", "NAT gateways: create, modify, delete");
    group->require_subcommand(1);
    VerbBuilder builder(*group, globals, exit_code, Kind::Gateway);
    builder.verb("create", Verb::Create, "Create a NAT gateway",
                 "natctl gateway create ngw-1 --vpc vpc-prod --outside-interface eth1 "
                 "--upstream 198.51.100.1 --eip eip-1",
                 [](CLI::App& command, VerbOptions& options) {
                     add_name(command, options, "gateway");
                     add_body(command, options, Kind::Gateway);
                 });
    builder.verb("modify", Verb::Modify, "Change fields of a NAT gateway (the others stay)",
                 "natctl gateway modify ngw-1 --deletion-protection on",
                 [](CLI::App& command, VerbOptions& options) {
                     add_name(command, options, "gateway");
                     add_body(command, options, Kind::Gateway);
                 });
    builder.verb("delete", Verb::Delete,
                 "Delete a NAT gateway (refused while it has entries or EIPs unless --force)",
                 "natctl gateway delete ngw-1 --force",
                 [](CLI::App& command, VerbOptions& options) {
                     add_name(command, options, "gateway");
                     command.add_flag("--force", options.command.force,
                                      "Delete its entries with it and disassociate its EIPs "
                                      "(they stay allocated: `natctl eip delete` releases "
                                      "one); never overrides deletion protection");
                 });
}

void add_eip_group(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    auto* group = app.add_subcommand("eip", "Elastic IPs: create, delete, associate, disassociate");
    group->require_subcommand(1);
    VerbBuilder builder(*group, globals, exit_code, Kind::Eip);
    builder.verb("create", Verb::Create, "Allocate an EIP",
                 "natctl eip create eip-3 --address 203.0.113.12",
                 [](CLI::App& command, VerbOptions& options) {
                     add_name(command, options, "EIP");
                     add_body(command, options, Kind::Eip);
                 });
    builder.verb("delete", Verb::Delete, "Release an EIP (refused while associated)",
                 "natctl eip delete eip-3", [](CLI::App& command, VerbOptions& options) {
                     add_name(command, options, "EIP");
                 });
    builder.verb("associate", Verb::Associate,
                 "Attach an EIP to a NAT gateway, or associate it with an instance (1:1 both "
                 "ways; an EIP already on an instance moves to the new one in one change)",
                 "natctl eip associate eip-3 --gateway ngw-1\n"
                 "  natctl eip associate eip-4 --instance web-1 --private-ip 10.0.1.10",
                 [](CLI::App& command, VerbOptions& options) {
                     add_name(command, options, "EIP");
                     auto* gateway = add_gateway_parent(command, options, false);
                     command.add_option("--instance", options.command.instance, "The instance")
                         ->type_name("NAME")
                         ->excludes(gateway);
                     command
                         .add_option("--private-ip", options.command.private_ip,
                                     "The instance's private IP (default: its first)")
                         ->type_name("IP");
                 });
    builder.verb("disassociate", Verb::Disassociate,
                 "Detach an EIP from a NAT gateway (refused while an entry uses it) or from "
                 "its instance",
                 "natctl eip disassociate eip-3 --gateway ngw-1\n"
                 "  natctl eip disassociate eip-4 --instance",
                 [](CLI::App& command, VerbOptions& options) {
                     add_name(command, options, "EIP");
                     auto* gateway = add_gateway_parent(command, options, false);
                     command
                         .add_flag("--instance", options.command.from_instance,
                                   "Disassociate it from the instance it is associated with")
                         ->excludes(gateway);
                 });
}

void add_entry_group(CLI::App& app, const GlobalOptions& globals, int& exit_code, Kind kind) {
    const bool snat = kind == Kind::Snat;
    auto* group =
        app.add_subcommand(snat ? "snat" : "dnat",
                           snat ? "SNAT entries of a NAT gateway: create, modify, delete"
                                : "DNAT entries (port and IP mappings): create, modify, delete");
    group->require_subcommand(1);
    VerbBuilder builder(*group, globals, exit_code, kind);
    const std::string what = snat ? "SNAT entry" : "DNAT entry";
    auto with_body = [what, kind](CLI::App& command, VerbOptions& options) {
        add_name(command, options, what);
        add_gateway_parent(command, options);
        add_body(command, options, kind);
    };
    builder.verb(
        "create", Verb::Create, "Create a " + what,
        snat ? "natctl snat create snat-lab --gateway ngw-1 --source cidr:10.0.3.0/24 --eip eip-1"
             : "natctl dnat create web --gateway ngw-1 --eip eip-1 --protocol tcp "
               "--public-port 80 --private-ip 10.0.1.10 --private-port 8080",
        with_body);
    builder.verb(
        "modify", Verb::Modify, "Change fields of a " + what + " (the others stay)",
        snat ? "natctl snat modify snat-lab --gateway ngw-1 --eip eip-1,eip-2 --eip-affinity on"
             : "natctl dnat modify web --gateway ngw-1 --private-port 8081",
        with_body);
    builder.verb("delete", Verb::Delete, "Delete a " + what,
                 snat ? "natctl snat delete snat-lab --gateway ngw-1"
                      : "natctl dnat delete web --gateway ngw-1",
                 [what](CLI::App& command, VerbOptions& options) {
                     add_name(command, options, what);
                     add_gateway_parent(command, options);
                 });
}

void add_route_group(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    auto* group = app.add_subcommand("route", "Routes of a VPC route table: add, delete");
    group->require_subcommand(1);
    VerbBuilder builder(*group, globals, exit_code, Kind::RouteTable);
    auto route_options = [](CLI::App& command, VerbOptions& options) {
        command.add_option("--vpc", options.command.parent, "The VPC")
            ->required()
            ->type_name("VPC");
        command.add_option("--table", options.command.table, "The route table")
            ->required()
            ->type_name("TABLE");
        command.add_option("--destination", options.command.destination, "Destination CIDR")
            ->required()
            ->type_name("CIDR");
    };
    builder.verb("add", Verb::Add, "Add a route",
                 "natctl route add --vpc vpc-prod --table rt-private --destination 0.0.0.0/0 "
                 "--next-hop nat-gateway:ngw-1",
                 [route_options](CLI::App& command, VerbOptions& options) {
                     route_options(command, options);
                     command
                         .add_option(
                             "--next-hop", options.command.next_hop,
                             "nat-gateway:NAME, ipv4-gateway:NAME, instance:NAME or blackhole")
                         ->required()
                         ->type_name("KIND:NAME|blackhole");
                 });
    builder.verb("delete", Verb::Delete, "Delete the route to a destination",
                 "natctl route delete --vpc vpc-prod --table rt-private --destination 0.0.0.0/0",
                 route_options);
}

void add_ipv4_gateway_group(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    auto* group = app.add_subcommand("ipv4-gateway",
                                     "The IPv4 (internet) gateway of a VPC: create, "
                                     "enable, disable, delete");
    group->require_subcommand(1);
    VerbBuilder builder(*group, globals, exit_code, Kind::Ipv4Gateway);
    builder.verb("create", Verb::Create,
                 "Create an IPv4 gateway (its gateway route table from -f FILE)",
                 "natctl ipv4-gateway create igw-1 --vpc vpc-prod --outside-interface eth1 "
                 "--upstream 198.51.100.1",
                 [](CLI::App& command, VerbOptions& options) {
                     add_name(command, options, "IPv4 gateway");
                     add_body(command, options, Kind::Ipv4Gateway);
                 });
    builder.verb("enable", Verb::Enable,
                 "Activate the gateway: all public traffic of the VPC passes it; each "
                 "--route-table gets 0.0.0.0/0 -> the gateway (refused where it has a default "
                 "route)",
                 "natctl ipv4-gateway enable igw-1 --route-table rt-public",
                 [](CLI::App& command, VerbOptions& options) {
                     add_name(command, options, "IPv4 gateway");
                     command
                         .add_option("--route-table", options.command.route_tables,
                                     "A route table of the VPC to switch to the gateway "
                                     "(repeat)")
                         ->type_name("TABLE")
                         ->allow_extra_args(false);
                 });
    builder.verb("disable", Verb::Disable, "Stop filtering the VPC's public traffic",
                 "natctl ipv4-gateway disable igw-1", [](CLI::App& command, VerbOptions& options) {
                     add_name(command, options, "IPv4 gateway");
                 });
    builder.verb("delete", Verb::Delete,
                 "Delete an IPv4 gateway: private (refused while a route points at it; the VPC "
                 "is left with no internet path) or public (routes pointing at it go with it; "
                 "public IPs get direct access by its interface)",
                 "natctl ipv4-gateway delete igw-1 --mode public",
                 [](CLI::App& command, VerbOptions& options) {
                     add_name(command, options, "IPv4 gateway");
                     command.add_option("--mode", options.command.delete_mode, "public or private")
                         ->required()
                         ->check(CLI::IsMember({"public", "private"}))
                         ->type_name("public|private");
                 });
}

}  // namespace

void add_object_commands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    add_gateway_group(app, globals, exit_code);
    add_eip_group(app, globals, exit_code);
    add_entry_group(app, globals, exit_code, Kind::Snat);
    add_entry_group(app, globals, exit_code, Kind::Dnat);
    add_route_group(app, globals, exit_code);
    add_ipv4_gateway_group(app, globals, exit_code);
}

}  // namespace natctl::cli
