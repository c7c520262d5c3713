// The one place the version string lives; keep it equal to PROJECT_VERSION in CMakeLists.txt.
#pragma once

namespace natctl::cli {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace natctl::cli
