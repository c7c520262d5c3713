// Semantic validation of a parsed model: every rule of DESIGN.md, every error at once.
#pragma once

#include <expected>
#include <string_view>

#include "controller/model/types.hpp"

namespace natctl::model {

// Empty when the model is valid. Errors are ordered by path as they appear in the document.
Errors validate(const Model& model);

// parse_model + validate: what every entry point (render, API, store) uses.
std::expected<Model, Errors> load_model(std::string_view text);

}  // namespace natctl::model
