// natctl: the command-line client. This file only wires the global options and the
// commands together; each command lives in its own file.
#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/daemon_commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/global_options.hpp"
#include "cli/ha_command.hpp"
#include "cli/object_commands.hpp"
#include "cli/ports_command.hpp"
#include "cli/render_command.hpp"
#include "cli/version.hpp"

int main(int argc, char** argv) {
    using namespace natctl::cli;

    CLI::App app{"natctl: command-line client of the natctl NAT gateway controller", "natctl"};
    app.set_version_flag("--version", std::string("natctl ") + kVersion);
    app.require_subcommand(1);
    app.footer(
        "Examples:\n"
        "  natctl render -f examples/quickstart.json | nft -c -f -   (offline, no daemon, no "
        "root)\n"
        "  natctl apply -f examples/quickstart.json\n"
        "  natctl -o json get dnat --gateway ngw-demo\n"
        "\n"
        "Exit codes:\n"
        "  0  success\n"
        "  1  the request was refused (validation, conflict, protection); reasons on stderr\n"
        "  2  usage error\n"
        "  3  the daemon could not be reached");

    GlobalOptions globals;
    app.add_option("--socket", globals.socket_path, "Unix socket of natctld")
        ->type_name("PATH")
        ->capture_default_str();
    const std::map<std::string, OutputFormat> formats{{"table", OutputFormat::Table},
                                                      {"json", OutputFormat::Json}};
    app.add_option("-o,--output", globals.output, "Output format: table or json")
        ->transform(CLI::CheckedTransformer(formats, CLI::ignore_case))
        ->option_text("table|json (default table)");
    app.add_option("--timeout", globals.timeout_seconds,
                   "Seconds to wait for natctld before giving up (exit 3)")
        ->type_name("SECONDS")
        ->check(CLI::Range(1u, 86400u))
        ->capture_default_str();

    int exit_code = kExitSuccess;
    add_apply_command(app, globals, exit_code);
    add_get_command(app, globals, exit_code);
    add_status_command(app, globals, exit_code);
    add_explain_command(app, globals, exit_code);
    add_revision_commands(app, globals, exit_code);
    add_render_command(app, globals, exit_code);
    add_object_commands(app, globals, exit_code);
    add_ports_command(app, globals, exit_code);
    add_sessions_command(app, globals, exit_code);
    add_ha_command(app, globals, exit_code);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        // --help and --version arrive as "errors" with exit code 0; every real parse error
        // is a usage error, whatever CLI11's own numbering.
        return app.exit(error) == 0 ? kExitSuccess : kExitUsage;
    }
    return exit_code;
}
