// Reading the document a command was pointed at: a path, or "-" for standard input.
#pragma once

#include <expected>
#include <string>

namespace natctl::cli {

// The whole content, or a message naming the file and what went wrong.
std::expected<std::string, std::string> read_input_file(const std::string& path);

}  // namespace natctl::cli
