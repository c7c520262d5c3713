#include "cli/daemon_commands.hpp"

#include <cstdint>
#include <memory>
#include <string>

#include <fmt/core.h>

#include "cli/api_format.hpp"
#include "cli/daemon_session.hpp"
#include "cli/exit_codes.hpp"
#include "cli/input_file.hpp"
#include "cli/model_view.hpp"
#include "controller/model/validate.hpp"

namespace natctl::cli {

namespace {

using nlohmann::json;

// ---- apply ------------------------------------------------------------------------------

struct ApplyOptions {
    std::string file;
    bool dry_run = false;
};

int run_apply(const GlobalOptions& globals, const ApplyOptions& options) {
    auto text = read_input_file(options.file);
    if (!text) {
        print_failure(text.error());
        return kExitUsage;
    }
    // The daemon runs the same validator; checking here first refuses a bad file without a
    // round trip, and works when the daemon is down.
    if (auto model = model::load_model(*text); !model) {
        for (const auto& line : error_lines(model.error()))
            fmt::print(stderr, "{}\n", line);
        return kExitRefused;
    }
    Session session(globals);
    auto config = session.read_config();
    if (!config) return config.error();
    return session.write("PUT", options.dry_run ? "/v1/config?dry_run=1" : "/v1/config", *text,
                         config->etag, options.dry_run);
}

// ---- get --------------------------------------------------------------------------------

struct GetOptions {
    std::string kind;
    std::string name;
    std::string vpc;
    std::string gateway;
};

int run_get(const GlobalOptions& globals, const GetOptions& options) {
    std::optional<Kind> kind;
    if (!options.kind.empty()) {
        kind = parse_kind(options.kind);
        if (!kind) {
            std::string names;
            for (const auto& name : kind_cli_names())
                names += (names.empty() ? "" : ", ") + name;
            print_failure(fmt::format("unknown kind {}; kinds: {}", options.kind, names));
            return kExitUsage;
        }
    }
    std::optional<std::string> parent;
    const ParentKind parent_of_kind = kind ? parent_kind(*kind) : ParentKind::None;
    if (!options.vpc.empty()) {
        if (parent_of_kind != ParentKind::Vpc) {
            print_failure("--vpc applies to vswitch, instance and route-table");
            return kExitUsage;
        }
        parent = options.vpc;
    }
    if (!options.gateway.empty()) {
        if (parent_of_kind != ParentKind::Gateway) {
            print_failure("--gateway applies to snat and dnat");
            return kExitUsage;
        }
        parent = options.gateway;
    }

    Session session(globals);
    auto model = session.get_json("/v1/config");
    if (!model) return model.error();
    if (!kind) {
        if (session.json_output())
            print_json(*model);
        else
            fmt::print("{}", render_model(*model));
        return kExitSuccess;
    }
    const std::optional<std::string> name =
        options.name.empty() ? std::nullopt : std::optional(options.name);
    auto objects = select_objects(*model, *kind, name, parent);
    if (!objects) {
        print_failure(objects.error());
        return kExitRefused;
    }
    if (session.json_output()) {
        // One object prints exactly as in the model; a list in the API's collection form.
        if (name || *kind == Kind::Limits) {
            print_json(objects->front().object);
        } else {
            json items = json::array();
            for (const auto& found : *objects)
                items.push_back(found.object);
            print_json(json{{"items", std::move(items)}});
        }
    } else {
        fmt::print("{}", render_objects(*kind, *objects, *model));
    }
    return kExitSuccess;
}

// ---- status, explain, revisions, rollback --------------------------------------------

int run_status(const GlobalOptions& globals) {
    Session session(globals);
    auto status = session.get_json("/v1/status");
    if (!status) return status.error();
    if (session.json_output())
        print_json(*status);
    else
        fmt::print("{}", format_status(*status));
    return kExitSuccess;
}

struct ExplainOptions {
    std::string src;
    std::string dst;
    std::string proto;
};

int run_explain(const GlobalOptions& globals, const ExplainOptions& options) {
    std::string target =
        fmt::format("/v1/explain?src={}&dst={}", url_encode(options.src), url_encode(options.dst));
    if (!options.proto.empty()) target += "&proto=" + url_encode(options.proto);
    Session session(globals);
    auto explanation = session.get_json(target);
    if (!explanation) return explanation.error();
    if (session.json_output())
        print_json(*explanation);
    else
        fmt::print("{}", format_explain(*explanation));
    return kExitSuccess;
}

int run_revisions(const GlobalOptions& globals) {
    Session session(globals);
    auto revisions = session.get_json("/v1/revisions");
    if (!revisions) return revisions.error();
    if (session.json_output())
        print_json(*revisions);
    else
        fmt::print("{}", format_revisions(*revisions));
    return kExitSuccess;
}

struct RollbackOptions {
    std::uint64_t revision = 0;
    bool dry_run = false;
};

int run_rollback(const GlobalOptions& globals, const RollbackOptions& options) {
    Session session(globals);
    auto config = session.read_config();
    if (!config) return config.error();
    return session.write("POST", options.dry_run ? "/v1/rollback?dry_run=1" : "/v1/rollback",
                         json{{"revision", options.revision}}.dump(), config->etag,
                         options.dry_run);
}

}  // namespace

void add_apply_command(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    auto* command =
        app.add_subcommand("apply", "Send a whole model to natctld; print what changes");
    auto options = std::make_shared<ApplyOptions>();
    command->add_option("-f,--file", options->file, "Model document (JSON); - reads standard input")
        ->required()
        ->type_name("FILE");
    command->add_flag("--dry-run", options->dry_run, "Print the plan only; change nothing");
    command->footer(
        "The file is validated locally first; every problem is printed as `path: reason`.\n"
        "The write carries the revision read just before (If-Match), so a concurrent change\n"
        "is refused instead of silently overwritten. Nothing to change: \"no changes\", exit 0.\n"
        "\n"
        "Examples:\n"
        "  natctl apply -f examples/quickstart.json --dry-run\n"
        "  natctl apply -f examples/quickstart.json\n"
        "    + nat_gateway ngw-demo (nat_gateways[0])\n"
        "    + dnat_entry web-http (nat_gateways[0].dnat_entries[0])\n"
        "    revision 1");
    command->callback(
        [&globals, options, &exit_code] { exit_code = run_apply(globals, *options); });
}

void add_get_command(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    std::string kinds;
    for (const auto& name : kind_cli_names())
        kinds += (kinds.empty() ? "" : ", ") + name;
    auto* command =
        app.add_subcommand("get", "Show the desired model, the objects of a kind, or one object");
    auto options = std::make_shared<GetOptions>();
    command->add_option("kind", options->kind, "One of: " + kinds)->type_name("KIND");
    command->add_option("name", options->name, "Name of one object")->type_name("NAME");
    command
        ->add_option("--vpc", options->vpc, "Only under this VPC (vswitch, instance, route-table)")
        ->type_name("VPC");
    command->add_option("--gateway", options->gateway, "Only under this NAT gateway (snat, dnat)")
        ->type_name("GW");
    command->footer(
        "-o json prints the model's JSON: one object as in the model, a kind as {\"items\": "
        "[...]}.\n"
        "\n"
        "Examples:\n"
        "  natctl get\n"
        "  natctl get dnat --gateway ngw-demo\n"
        "  natctl -o json get dnat web-http");
    command->callback([&globals, options, &exit_code] { exit_code = run_get(globals, *options); });
}

void add_status_command(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    auto* command = app.add_subcommand(
        "status", "Revision, reconcile state, kernel features and drift repairs of natctld");
    command->footer(
        "Examples:\n"
        "  natctl status\n"
        "  natctl -o json status");
    command->callback([&globals, &exit_code] { exit_code = run_status(globals); });
}

void add_explain_command(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    auto* command = app.add_subcommand(
        "explain", "Which route, gateway, translation and EIP apply to a flow, and why");
    auto options = std::make_shared<ExplainOptions>();
    command->add_option("--src", options->src, "Source address")->required()->type_name("IP");
    command->add_option("--dst", options->dst, "Destination address, optionally with a port")
        ->required()
        ->type_name("IP[:PORT]");
    command->add_option("--proto", options->proto, "tcp, udp or icmp")
        ->check(CLI::IsMember({"tcp", "udp", "icmp"}))
        ->type_name("PROTO");
    command->footer(
        "Examples:\n"
        "  natctl explain --src 10.0.2.10 --dst 198.51.100.7:443 --proto tcp   (egress)\n"
        "  natctl explain --src 198.51.100.7 --dst 203.0.113.11:80 --proto tcp (ingress, DNAT)");
    command->callback(
        [&globals, options, &exit_code] { exit_code = run_explain(globals, *options); });
}

void add_revision_commands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
    auto* revisions =
        app.add_subcommand("revisions", "History of the model: the revisions kept for rollback");
    revisions->footer(
        "Example:\n"
        "  natctl revisions");
    revisions->callback([&globals, &exit_code] { exit_code = run_revisions(globals); });

    auto* rollback = app.add_subcommand(
        "rollback", "Make an earlier revision's model current again (as a new revision)");
    auto options = std::make_shared<RollbackOptions>();
    rollback
        ->add_option("revision", options->revision,
                     "The revision to return to (see `natctl revisions`)")
        ->required()
        ->type_name("REVISION");
    rollback->add_flag("--dry-run", options->dry_run, "Print the plan only; change nothing");
    rollback->footer(
        "Example:\n"
        "  natctl rollback 7");
    rollback->callback(
        [&globals, options, &exit_code] { exit_code = run_rollback(globals, *options); });
}

}  // namespace natctl::cli
