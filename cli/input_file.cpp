#include "cli/input_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <system_error>

#include <fmt/core.h>

namespace natctl::cli {

namespace {

std::expected<std::string, std::string> read_stream(std::istream& in, const std::string& label) {
    std::string content{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) return std::unexpected(fmt::format("cannot read {}", label));
    return content;
}

}  // namespace

std::expected<std::string, std::string> read_input_file(const std::string& path) {
    if (path == "-") return read_stream(std::cin, "standard input");

    // An ifstream "opens" a directory and then reads nothing; say what is wrong instead of
    // reporting an empty document.
    std::error_code status_error;
    if (std::filesystem::is_directory(path, status_error))
        return std::unexpected(fmt::format("cannot read {}: is a directory", path));

    std::ifstream file(path, std::ios::binary);
    if (!file.is_open())
        return std::unexpected(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    return read_stream(file, path);
}

}  // namespace natctl::cli
