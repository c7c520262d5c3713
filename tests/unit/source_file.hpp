// The text of a file of the source tree (examples, test data), for tests that load models.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

namespace natctl::testing {

// `relative` to the repository's root (NATCTL_SOURCE_DIR); the test fails if it cannot be read.
inline std::string source_file(const std::string& relative) {
    std::ifstream file(std::string(NATCTL_SOURCE_DIR) + "/" + relative);
    REQUIRE(file.good());
    std::stringstream content;
    content << file.rdbuf();
    return content.str();
}

}  // namespace natctl::testing
