// A fresh directory under $TMPDIR for one test, removed with everything in it at the end
// (also when a REQUIRE fails half-way).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include <catch2/catch.hpp>

namespace natctl::testing {

class TempDir {
  public:
    // `label` names the directory (natctl-<label>-XXXXXX), so a leftover says whose it is.
    explicit TempDir(const std::string& label) {
        std::string pattern =
            (std::filesystem::temp_directory_path() / ("natctl-" + label + "-XXXXXX")).string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    // A store's state directory inside it (Store::open creates it, mode 0700).
    std::filesystem::path state() const { return path_ / "state"; }

  private:
    std::filesystem::path path_;
};

}  // namespace natctl::testing
