#include "cli/render_command.hpp"

#include <cstdio>
#include <memory>
#include <string>

#include <fmt/core.h>

#include "cli/api_format.hpp"
#include "cli/exit_codes.hpp"
#include "cli/input_file.hpp"
#include "controller/compiler/compile.hpp"
#include "controller/compiler/render.hpp"
#include "controller/model/validate.hpp"

namespace natctl::cli {

namespace {

void print_errors(const model::Errors& errors) {
    for (const auto& line : error_lines(errors))
        fmt::print(stderr, "{}\n", line);
}

int run_render(const std::string& file) {
    auto text = read_input_file(file);
    if (!text) {
        fmt::print(stderr, "natctl render: {}\n", text.error());
        return kExitUsage;
    }
    auto model = model::load_model(*text);
    if (!model) {
        print_errors(model.error());
        return kExitRefused;
    }
    const std::string output = compiler::render(compiler::compile(*model));
    if (std::fwrite(output.data(), 1, output.size(), stdout) != output.size() ||
        std::fflush(stdout) != 0) {
        fmt::print(stderr, "natctl render: cannot write to standard output\n");
        return kExitRefused;
    }
    return kExitSuccess;
}

}  // namespace

void add_render_command(CLI::App& app, const GlobalOptions& /*globals: render is offline*/,
                        int& exit_code) {
    auto* render = app.add_subcommand(
        "render", "Compile a model offline (no daemon, no root) into an `nft -f` file");
    // The option's storage must outlive parsing: the callback runs after parse() fills it.
    auto file = std::make_shared<std::string>();
    render->add_option("-f,--file", *file, "Model document (JSON); - reads standard input")
        ->required()
        ->type_name("FILE");
    render->footer(
        "The table part is what `nft list table ip natctl` prints once loaded; the ip rules,\n"
        "routes and addresses follow as `# ip ...` comment lines.\n"
        "\n"
        "Example:\n"
        "  natctl render -f examples/quickstart.json | nft -c -f -");
    render->callback([file, &exit_code] { exit_code = run_render(*file); });
}

}  // namespace natctl::cli
