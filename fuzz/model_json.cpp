// libFuzzer target: the model's JSON reader, the validator and, for a valid model, the
// compiler and the renderer — everything `natctl render` and PUT /v1/config run on input
// they do not control.
//
// Oracles beyond "no crash, no sanitizer report": a refusal names at least one reason; a
// parsed model survives to_json → from_json unchanged; compiling a valid model twice gives
// the same kernel state (the compiler is documented as deterministic); the streaming reader
// (what PUT /v1/config runs) reads exactly what the whole-tree reader reads from the same
// text: the same model, errors and placeholders, and both refuse the same syntax.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "controller/compiler/compile.hpp"
#include "controller/compiler/render.hpp"
#include "controller/model/json.hpp"
#include "controller/model/validate.hpp"
#include "fuzz/check.hpp"

namespace model = natctl::model;
namespace compiler = natctl::compiler;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto streamed = model::read_model(text);
    auto tree = model::parse_json(text);
    natctl::fuzz::check(streamed.has_value() == tree.has_value(),
                        "the streaming and the whole-tree reader disagree on the syntax");
    if (streamed && tree) {
        auto whole = model::read_model(*tree);
        natctl::fuzz::check(streamed->errors == whole.errors,
                            "the streaming reader reports other errors than the whole-tree one");
        natctl::fuzz::check(streamed->unread == whole.unread,
                            "the streaming reader leaves other placeholders");
        natctl::fuzz::check(streamed->model == whole.model,
                            "the streaming reader reads another model");
    }
    auto parsed = model::parse_model(text);
    if (!parsed) {
        natctl::fuzz::check(!parsed.error().empty(), "a refused document names no error");
        for (const auto& error : parsed.error())
            natctl::fuzz::check(!error.reason.empty(), "an error without a reason");
        return 0;
    }
    auto again = model::from_json(model::to_json(*parsed));
    natctl::fuzz::check(again.has_value(), "to_json of a parsed model does not parse back");
    natctl::fuzz::check(*again == *parsed, "to_json → from_json changed the model");

    const auto errors = model::validate(*parsed);
    for (const auto& error : errors)
        natctl::fuzz::check(!error.reason.empty(), "a validation error without a reason");
    if (!errors.empty()) return 0;

    const auto state = compiler::compile(*parsed);
    natctl::fuzz::check(compiler::compile(*parsed) == state, "compile is not deterministic");
    const auto text_form = compiler::render(state);
    natctl::fuzz::check(!text_form.empty(), "a valid model renders to nothing");
    return 0;
}
