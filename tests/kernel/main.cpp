// Kernel tests need root and network namespaces. Where they cannot run (an unprivileged
// build, a container without CAP_SYS_ADMIN), the binary exits 77 so that CTest reports the
// suite as skipped instead of failed.
#define CATCH_CONFIG_RUNNER
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "tests/support/netns_fixture.hpp"

namespace {
constexpr int kSkip = 77;
}

int main(int argc, char* argv[]) {
    if (::geteuid() != 0) {
        std::fprintf(stderr, "kernel tests skipped: they need root (network namespaces)\n");
        return kSkip;
    }
    std::string error;
    if (!natctl::testing::TestNetns::create(&error)) {
        std::fprintf(stderr, "kernel tests skipped: `ip netns add` failed: %s\n", error.c_str());
        return kSkip;
    }
    return Catch::Session().run(argc, argv);
}
